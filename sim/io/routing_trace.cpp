#include "sim/io/routing_trace.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/io/errors.h"
#include "sim/io/json_reader.h"
#include "sim/io/trace_ids.h"

namespace moesim {

namespace {

// A whole number in [min, max] from the trace header (no silent truncation of 2.7 or 1e30).
int64_t whole_number(const std::string& path, const std::string& where, const nlohmann::json& v, int64_t min, int64_t max) {
  if (!v.is_number_integer()) throw input_error(path, where, "expected a whole number, got " + v.dump().substr(0, 40));
  const auto n = v.get<int64_t>();
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(max))
    throw input_error(path, where, fmt::format("expected a whole number from {} to {}, got {}", min, max, v.dump()));
  if (n < min || n > max) throw input_error(path, where, fmt::format("expected a whole number from {} to {}, got {}", min, max, n));
  return n;
}

// A zip member's name as an error shows it: bytes outside printable ASCII as '?'.
std::string printable(std::string name) {
  for (char& c : name)
    if (c < 0x20 || c > 0x7e) c = '?';
  return name;
}

}  // namespace

RoutingTrace::RoutingTrace(const std::string& path) : npz_(std::make_unique<NpzReader>(path)) {
  const auto& meta = npz_->array("meta");
  if (meta.dtype != "u1" || meta.shape.size() != 1) throw input_error(path, "meta", "expected a 1-D uint8 array holding JSON");
  const auto* meta_text = reinterpret_cast<const char*>(meta.data);
  // The JSON file reader's checks (nesting, duplicate keys, UTF-8, numbers out of range), with
  // errors that name the trace and its meta member.
  const std::string meta_string(meta_text, static_cast<size_t>(meta.count()));
  if (meta_string.find('\0') != std::string::npos) throw input_error(path, "meta", "a NUL byte in the JSON header");
  const JsonDocument doc = JsonDocument::parse_text(meta_string, path + ": meta");
  const nlohmann::json& j = doc.json();
  auto need = [&](const char* key) -> const nlohmann::json& {
    if (!j.is_object() || !j.contains(key)) throw input_error(path, std::string("meta.") + key, "missing from the trace header");
    return j[key];
  };
  auto text = [&](const char* key, const nlohmann::json& v) {
    if (!v.is_string()) throw input_error(path, std::string("meta.") + key, "expected a string, got " + v.dump().substr(0, 40));
    return v.get<std::string>();
  };
  if (text("format", need("format")) != "moesim-trace") throw input_error(path, "meta.format", "expected \"moesim-trace\"");
  if (!(need("version").is_number_integer() && j["version"].get<int64_t>() == 1))
    throw input_error(path, "meta.version", "expected 1 (the moesim-trace version this moesim reads), got " + j["version"].dump().substr(0, 40));
  static const std::vector<std::string> kMetaKeys = {"format", "version", "model", "num_experts", "top_k", "layers", "source"};
  for (const auto& [key, _] : j.items())
    if (std::find(kMetaKeys.begin(), kMetaKeys.end(), key) == kMetaKeys.end())
      throw input_error(path, "meta", fmt::format("unknown key \"{}\" in the trace header; did you mean \"{}\"?", shown_key(key), closest(key, kMetaKeys)));
  static const std::vector<std::string> kMembers = {"gate_weights", "meta", "topk_ids"};
  for (const auto& name : npz_->names())
    if (std::find(kMembers.begin(), kMembers.end(), name) == kMembers.end())
      throw input_error(path, printable(shown_key(name)), "unknown member: a moesim trace holds meta, topk_ids and optionally gate_weights");
  header_.model = text("model", need("model"));
  if (header_.model.empty()) throw input_error(path, "meta.model", "expected the model's name, got an empty string");
  header_.num_experts = whole_number(path, "meta.num_experts", need("num_experts"), 1, 1 << 20);
  header_.top_k = whole_number(path, "meta.top_k", need("top_k"), 1, 1024);
  const auto& layers = need("layers");
  if (!layers.is_array()) throw input_error(path, "meta.layers", "expected an array of layer ids");
  std::set<int64_t> seen;
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string where = fmt::format("meta.layers[{}]", i);
    header_.layers.push_back(whole_number(path, where, layers[i], 0, 1 << 20));
    if (!seen.insert(header_.layers.back()).second)
      throw input_error(path, where, fmt::format("layer {} is listed twice (each layer's routing once)", header_.layers.back()));
  }
  if (j.contains("source")) header_.source = text("source", j["source"]);
  ids_ = &npz_->array("topk_ids");
  if (ids_->dtype != "i2" && ids_->dtype != "i4") throw input_error(path, "topk_ids", "expected int16 or int32");
  ids_int16_ = ids_->dtype == "i2";
  if (ids_->shape.size() != 3) throw input_error(path, "topk_ids", "expected shape [layers, tokens, top_k]");
  if (ids_->shape[0] != static_cast<int64_t>(header_.layers.size()))
    throw input_error(path, "topk_ids", fmt::format("has {} layers but the header lists {}", ids_->shape[0], header_.layers.size()));
  if (ids_->shape[2] != header_.top_k)
    throw input_error(path, "topk_ids", fmt::format("top-k dimension is {} but the header says top_k {}", ids_->shape[2], header_.top_k));
  if (header_.num_experts < 1 || header_.top_k < 1 || header_.top_k > header_.num_experts)
    throw input_error(path, "meta", "num_experts and top_k must satisfy 1 <= top_k <= num_experts");
  header_.tokens = ids_->shape[1];
  if (header_.tokens < 1) throw input_error(path, "topk_ids", "trace holds no tokens");
  if (npz_->has("gate_weights")) {
    weights_ = &npz_->array("gate_weights");
    if (weights_->dtype != "f4" || weights_->shape != ids_->shape)
      throw input_error(path, "gate_weights", "expected float32 with the shape of topk_ids");
  }
}

void RoutingTrace::refuse_token(size_t layer_index, int64_t token, const int32_t* ids) const {
  const int64_t k = header_.top_k;
  const int64_t base = (static_cast<int64_t>(layer_index) * header_.tokens + token) * k;
  for (int64_t i = 0; i < k; ++i) {
    const int32_t id = ids[i];
    if (id < 0 || id >= header_.num_experts)
      throw input_error(path(), fmt::format("topk_ids[{}][{}][{}] (element {})", layer_index, token, i, base + i),
                        fmt::format("expert id {} out of range [0, {})", id, header_.num_experts));
    for (int64_t j = 0; j < i; ++j)
      if (ids[j] == id)
        throw input_error(path(), fmt::format("topk_ids[{}][{}][{}] (element {})", layer_index, token, i, base + i),
                          fmt::format("expert {} is already the token's choice {}: a token's top-k experts must be distinct", id, j));
  }
  throw std::logic_error("refuse_token: the token has no bad id");
}

void RoutingTrace::read_token(size_t layer_index, int64_t token, int32_t* ids, float* weights) const {
  read_tokens(layer_index, token, 1, ids, weights);
}

void RoutingTrace::read_tokens(size_t layer_index, int64_t first, int64_t count, int32_t* ids, float* weights) const {
  const int64_t k = header_.top_k;
  const int64_t base = (static_cast<int64_t>(layer_index) * header_.tokens + first) * k;
  // Checked while copying: any id out of range or repeated; the error names the first.
  const unsigned char* src = ids_->data + base * (ids_int16_ ? 2 : 4);
  if (copy_checked_ids(src, ids_int16_, count, k, header_.num_experts, ids)) refuse_tokens(layer_index, first, count, ids);
  if (weights && weights_) read_weights(layer_index, first, count, weights);
}

void RoutingTrace::refuse_tokens(size_t layer_index, int64_t first, int64_t count, const int32_t* ids) const {
  const int64_t k = header_.top_k;
  for (int64_t t = 0; t < count; ++t)
    if (any_bad_ids(ids + t * k, 1, k, header_.num_experts)) refuse_token(layer_index, first + t, ids + t * k);
  throw std::logic_error("refuse_tokens: no token has a bad id");
}

void RoutingTrace::read_weights(size_t layer_index, int64_t first, int64_t count, float* weights) const {
  const int64_t k = header_.top_k;
  const int64_t base = (static_cast<int64_t>(layer_index) * header_.tokens + first) * k;
  const int64_t n = count * k;
  std::memcpy(weights, weights_->data + base * 4, static_cast<size_t>(n) * 4);
  bool bad = false;
  for (int64_t i = 0; i < n; ++i) bad |= !(weights[i] >= 0.0f && weights[i] <= std::numeric_limits<float>::max());  // NaN fails both
  if (!bad) return;
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(weights[i]) || weights[i] < 0)
      throw input_error(path(), fmt::format("gate_weights[{}][{}][{}] (element {})", layer_index, first + i / k, i % k, base + i),
                        fmt::format("expected a finite weight >= 0, got {}", weights[i]));
}

void write_routing_trace(const std::string& path, const TraceData& data) {
  const auto& h = data.header;
  nlohmann::json meta = {{"format", "moesim-trace"}, {"version", 1}, {"model", h.model}, {"num_experts", h.num_experts},
                         {"top_k", h.top_k}, {"layers", h.layers}, {"source", h.source}};
  const std::string meta_text = meta.dump();
  const std::vector<int64_t> shape = {static_cast<int64_t>(h.layers.size()), h.tokens, h.top_k};
  NpzWriter w;
  w.add("topk_ids", "i4", shape, data.ids.data(), data.ids.size() * sizeof(int32_t));
  if (!data.weights.empty()) w.add("gate_weights", "f4", shape, data.weights.data(), data.weights.size() * sizeof(float));
  w.add("meta", "u1", {static_cast<int64_t>(meta_text.size())}, meta_text.data(), meta_text.size());
  w.write(path);
}

}  // namespace moesim
