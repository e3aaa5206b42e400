// .npy parsing for importers (see npy_file.h).
#include "sim/import/npy_file.h"

#include <cstring>

#include <fmt/format.h>

#include "sim/io/errors.h"

namespace moesim::import {
namespace {

// The value after 'key': in the header dict, up to the matching delimiter.
std::string header_value(const std::string& file, const std::string& h, const std::string& key) {
  const auto k = h.find("'" + key + "'");
  if (k == std::string::npos) throw input_error(file, "byte offset 10", fmt::format("not a .npy file: header lacks '{}'", key));
  const auto colon = h.find(':', k + key.size() + 2);
  if (colon == std::string::npos) throw input_error(file, "byte offset 10", fmt::format("not a .npy file: no value for '{}'", key));
  size_t b = colon + 1;
  while (b < h.size() && h[b] == ' ') ++b;
  if (b >= h.size()) throw input_error(file, "byte offset 10", fmt::format("not a .npy file: no value for '{}'", key));
  const char open = h[b];
  const bool quoted = open == '\'' || open == '(';
  const auto e = quoted ? h.find(open == '(' ? ')' : '\'', b + 1) : h.find_first_of(",}", b + 1);
  if (e == std::string::npos) throw input_error(file, "byte offset 10", fmt::format("not a .npy file: unterminated '{}'", key));
  return quoted ? h.substr(b + 1, e - b - 1) : h.substr(b, e - b);
}

}  // namespace

int64_t NpyData::integer(int64_t i) const {
  const uint8_t* p = data + i * item_bytes;
  uint64_t u = 0;
  for (int b = item_bytes - 1; b >= 0; --b) u = (u << 8) | p[b];
  if (kind == 'u') return item_bytes == 8 && u > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(u);
  if (item_bytes < 8 && (u >> (8 * item_bytes - 1)) & 1) u |= ~uint64_t{0} << (8 * item_bytes);  // sign-extend
  int64_t v;
  std::memcpy(&v, &u, 8);
  return v;
}

double NpyData::real(int64_t i) const {
  const uint8_t* p = data + i * item_bytes;
  if (item_bytes == 4) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  double d;
  std::memcpy(&d, p, 8);
  return d;
}

NpyData parse_npy(const std::string& file, const std::string& bytes) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t size = bytes.size();
  if (size < 10 || std::memcmp(p, "\x93NUMPY", 6) != 0) throw input_error(file, "byte offset 0", "not a .npy file (no \\x93NUMPY magic)");
  const int major = p[6];
  size_t header_at = 10, header_len = 0;
  if (major == 1) header_len = p[8] | (p[9] << 8);
  else if (major == 2 || major == 3) {
    if (size < 12) throw input_error(file, "byte offset 8", "truncated .npy header");
    header_len = static_cast<size_t>(p[8]) | (static_cast<size_t>(p[9]) << 8) | (static_cast<size_t>(p[10]) << 16) | (static_cast<size_t>(p[11]) << 24);
    header_at = 12;
  } else throw input_error(file, "byte offset 6", fmt::format("unsupported .npy version {}", major));
  if (header_len > size - header_at) throw input_error(file, fmt::format("byte offset {}", header_at), "truncated .npy header");
  const std::string h(bytes.data() + header_at, header_len);
  NpyData a;
  const std::string descr = header_value(file, h, "descr");
  if (descr.size() < 3 || (descr[0] != '<' && descr[0] != '|' && descr[0] != '='))
    throw input_error(file, fmt::format("byte offset {}", header_at), "only little-endian arrays are read, got dtype '" + descr + "'");
  a.kind = descr[1];
  a.item_bytes = descr.size() == 3 && descr[2] >= '1' && descr[2] <= '8' ? descr[2] - '0' : 0;
  const bool ok = ((a.kind == 'i' || a.kind == 'u') && (a.item_bytes == 1 || a.item_bytes == 2 || a.item_bytes == 4 || a.item_bytes == 8)) ||
                  (a.kind == 'f' && (a.item_bytes == 4 || a.item_bytes == 8));
  if (!ok) throw input_error(file, fmt::format("byte offset {}", header_at), "unsupported dtype '" + descr + "' (integers or float32/64)");
  if (header_value(file, h, "fortran_order").rfind("False", 0) != 0)
    throw input_error(file, fmt::format("byte offset {}", header_at), "Fortran-order arrays are not supported");
  const std::string shape = header_value(file, h, "shape");
  a.count = 1;
  size_t i = 0;
  while (i < shape.size()) {
    while (i < shape.size() && (shape[i] == ' ' || shape[i] == ',')) ++i;
    if (i >= shape.size()) break;
    size_t j = i;
    while (j < shape.size() && shape[j] >= '0' && shape[j] <= '9') ++j;
    if (j == i || j - i > 12) throw input_error(file, fmt::format("byte offset {}", header_at), "bad shape (" + shape + ")");
    const int64_t dim = std::stoll(shape.substr(i, j - i));
    a.shape.push_back(dim);
    if (dim != 0 && a.count > (INT64_C(1) << 50) / dim) throw input_error(file, fmt::format("byte offset {}", header_at), "shape too large (" + shape + ")");
    a.count *= dim;
    i = j;
  }
  const size_t data_at = header_at + header_len;
  const uint64_t want = static_cast<uint64_t>(a.count) * static_cast<uint64_t>(a.item_bytes);
  if (size - data_at < want)
    throw input_error(file, fmt::format("byte offset {}", data_at), fmt::format("data truncated: {} bytes expected, {} present", want, size - data_at));
  a.data = p + data_at;
  return a;
}

}  // namespace moesim::import
