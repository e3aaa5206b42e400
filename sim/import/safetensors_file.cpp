// safetensors parsing (see safetensors_file.h).
#include "sim/import/safetensors_file.h"

#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/io/errors.h"
#include "sim/import/import_util.h"

namespace moesim::import {
namespace {

int dtype_bytes(const std::string& d) {
  if (d == "U8" || d == "I8" || d == "BOOL") return 1;
  if (d == "I16" || d == "U16") return 2;
  if (d == "I32" || d == "U32" || d == "F32") return 4;
  if (d == "I64" || d == "U64" || d == "F64") return 8;
  return 0;
}

}  // namespace

double SafeTensor::value(int64_t i) const {
  const uint8_t* p = data + i * item_bytes;
  uint64_t u = 0;
  for (int b = item_bytes - 1; b >= 0; --b) u = (u << 8) | p[b];
  if (dtype == "F32") {
    float f;
    const auto v = static_cast<uint32_t>(u);
    std::memcpy(&f, &v, 4);
    return f;
  }
  if (dtype == "F64") {
    double d;
    std::memcpy(&d, &u, 8);
    return d;
  }
  if (dtype[0] == 'I' && item_bytes < 8 && (u >> (8 * item_bytes - 1)) & 1) u |= ~uint64_t{0} << (8 * item_bytes);
  if (dtype[0] == 'I') {
    int64_t s;
    std::memcpy(&s, &u, 8);
    return static_cast<double>(s);
  }
  return static_cast<double>(u);
}

std::map<std::string, SafeTensor> parse_safetensors(const std::string& file, const std::string& bytes) {
  if (bytes.size() < 8) throw input_error(file, "byte offset 0", "not a safetensors file (shorter than its 8-byte header length)");
  uint64_t n = 0;
  for (int b = 7; b >= 0; --b) n = (n << 8) | static_cast<uint8_t>(bytes[static_cast<size_t>(b)]);
  if (n > bytes.size() - 8)
    throw input_error(file, "byte offset 0", fmt::format("header length {} runs past the end of the {}-byte file (truncated?)", n, bytes.size()));
  if (json_depth(bytes.data() + 8, bytes.data() + 8 + n) > kMaxJsonDepth)
    throw input_error(file, "byte offset 8", fmt::format("header JSON nested deeper than {} levels", kMaxJsonDepth));
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  } catch (const nlohmann::json::parse_error& e) {
    throw input_error(file, fmt::format("byte offset {}", 8 + (e.byte ? e.byte - 1 : 0)), "header is not valid JSON");
  } catch (const nlohmann::json::exception& e) {  // out_of_range: a number such as 1e999
    throw input_error(file, "byte offset 8", std::string("header is not valid JSON: ") + e.what());
  }
  if (!h.is_object()) throw input_error(file, "byte offset 8", "header is not a JSON object");
  const uint64_t data_at = 8 + n, data_size = bytes.size() - data_at;
  std::map<std::string, SafeTensor> out;
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const std::string where = "header: " + it.key();
    const auto& v = it.value();
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      throw input_error(file, where, "expected {\"dtype\", \"shape\", \"data_offsets\"}");
    SafeTensor t;
    if (!v["dtype"].is_string()) throw input_error(file, where + ".dtype", "expected a string");
    t.dtype = v["dtype"].get<std::string>();
    t.item_bytes = dtype_bytes(t.dtype);
    if (!t.item_bytes || t.dtype == "BOOL") throw input_error(file, where + ".dtype", "unsupported dtype \"" + t.dtype + "\" (integer or F32/F64)");
    if (!v["shape"].is_array()) throw input_error(file, where + ".shape", "expected an array");
    t.count = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t{1} << 40)) throw input_error(file, where + ".shape", "expected non-negative integers");
      const auto dim = static_cast<int64_t>(d.get<uint64_t>());
      if (dim && t.count > (INT64_C(1) << 50) / dim) throw input_error(file, where + ".shape", "shape too large");
      t.shape.push_back(dim);
      t.count *= dim;
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw input_error(file, where + ".data_offsets", "expected [begin, end]");
    const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e || e > data_size)
      throw input_error(file, where + ".data_offsets", fmt::format("[{}, {}] is outside the {} data bytes (truncated file?)", b, e, data_size));
    if (e - b != static_cast<uint64_t>(t.count) * static_cast<uint64_t>(t.item_bytes))
      throw input_error(file, where + ".data_offsets", fmt::format("{} bytes for {} {} elements", e - b, t.count, t.dtype));
    t.offset = static_cast<int64_t>(data_at + b);
    t.data = reinterpret_cast<const uint8_t*>(bytes.data()) + data_at + b;
    out.emplace(it.key(), std::move(t));
  }
  return out;
}

}  // namespace moesim::import
