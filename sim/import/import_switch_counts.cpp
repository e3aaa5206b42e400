// Imports per-layer expert usage of google/switch-base-128 (github.com/cyanmishra92/specMoE,
// ../shared/traces/switch-base-128-counts/expert_statistics_3d.json): {"num_experts",
// "layers": [1, 3, ...], "expert_usage_by_layer": {"1": {"0": 747, ...}, ...},
// "layer_analysis": {"1": {"total_usage": ...}} (optional)}. Writes moesim-counts JSON with
// the real layer ids and top_k 1 (Switch routes each token to one expert; --top-k overrides).
// Absent experts count 0. Every layer must sum to the same token count (and to total_usage).
// The file names no model: --model, else "switch-base-<num_experts>".
#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "sim/import/import_util.h"

namespace moesim {
namespace {

// A decimal key such as "17"; -1 when the key is anything else.
int64_t key_number(const std::string& key) {
  if (key.empty() || key.size() > 9 || !std::all_of(key.begin(), key.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) return -1;
  int64_t v = -1;
  std::from_chars(key.data(), key.data() + key.size(), v);
  return v;
}

}  // namespace

Imported import_switch_counts(const std::string& in, const ImportOptions& opt) {
  const auto doc = import::load_json(in);
  auto o = doc.root().as_object();
  ExpertCounts c;
  c.format = "moesim-counts";
  c.num_experts = import::expert_count(in, opt, o.required("num_experts").as_int(1, 1 << 20), "switch-counts");
  c.model = import::model_name(opt, fmt::format("switch-base-{}", c.num_experts), "switch-counts");
  c.top_k = opt.top_k > 0 ? opt.top_k : 1;
  if (c.top_k > c.num_experts) throw InputError(fmt::format("--top-k {} exceeds the {} experts", c.top_k, c.num_experts));
  for (const auto& l : o.required("layers").as_array(1, 100000)) {
    c.layers.push_back(l.as_int(0, 100000));
    if (std::count(c.layers.begin(), c.layers.end(), c.layers.back()) > 1) l.fail(fmt::format("layer {} is listed twice", c.layers.back()));
  }
  import::check_layer_set(in, opt, c.layers);
  const JsonValue usage = o.required("expert_usage_by_layer");
  if (!usage.is_object()) usage.fail("expected an object {\"layer\": {\"expert\": count}}");
  c.counts.assign(c.layers.size(), std::vector<double>(static_cast<size_t>(c.num_experts), 0.0));
  std::vector<bool> filled(c.layers.size(), false);
  for (auto it = usage.raw().begin(); it != usage.raw().end(); ++it) {
    const JsonValue row(usage.file_ptr(), usage.path() + "." + it.key(), &it.value());
    const auto at = std::find(c.layers.begin(), c.layers.end(), key_number(it.key()));
    if (at == c.layers.end()) row.fail(fmt::format("wrong layer count: \"{}\" is not one of \"layers\"", it.key()));
    const size_t l = static_cast<size_t>(at - c.layers.begin());
    if (!row.is_object()) row.fail("expected an object {\"expert\": count}");
    for (auto e = it.value().begin(); e != it.value().end(); ++e) {
      const JsonValue cell(row.file_ptr(), row.path() + "." + e.key(), &e.value());
      const int64_t id = key_number(e.key());
      if (id < 0 || id >= c.num_experts) cell.fail(fmt::format("expert id \"{}\" out of range [0, {})", e.key(), c.num_experts));
      c.counts[l][static_cast<size_t>(id)] = cell.as_number(0.0, 1e18);
    }
    filled[l] = true;
  }
  double tokens = -1;
  for (size_t l = 0; l < c.layers.size(); ++l) {
    if (!filled[l]) usage.fail(fmt::format("wrong layer count: no entry for layer {}", c.layers[l]));
    double s = 0;
    for (double x : c.counts[l]) s += x;
    const JsonValue row = usage.as_object().required(std::to_string(c.layers[l]));
    if (tokens >= 0 && s != tokens) row.fail(fmt::format("sums to {} but layer {} sums to {}: not counts of the same tokens", s, c.layers[0], tokens));
    tokens = s;
  }
  import::check_counts(in, c.counts, c.top_k, [&](size_t r) { return fmt::format("$.expert_usage_by_layer.{}", c.layers[r]); });
  if (auto an = o.optional("layer_analysis")) {
    if (!an->is_object()) an->fail("expected an object");
    for (size_t l = 0; l < c.layers.size(); ++l) {
      auto a = an->as_object();
      if (auto entry = a.optional(std::to_string(c.layers[l]))) {
        auto eo = entry->as_object();
        if (auto total = eo.optional("total_usage"))
          if (total->as_number(0.0, 1e18) != tokens) total->fail(fmt::format("is not the layer's sum of counts, {}", tokens));
      }
    }
  }
  c.source = fmt::format("switch-counts: {} (per-layer expert usage of google/switch-base-128, cyanmishra92/specMoE); {} tokens",
                         import::base_name(in), static_cast<int64_t>(tokens / static_cast<double>(c.top_k)));
  Imported out;
  out.counts = std::move(c);
  return out;
}

}  // namespace moesim
