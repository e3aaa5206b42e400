// Imports the routing counts of OLMoE's routing analysis (allenai/OLMoE
// scripts/routing_output, converted to JSON in ../shared/traces/olmoe-routing-counts/):
// {"model", "domain", "num_experts", "top_k", "layers": [0, 7, 15], "tokens",
//  "expert_counts": [[E] x layers], "expert_counts_top1": [[E] x layers] (optional),
//  "crosslayer_pair_counts": {"0->7": [[E] x E], ...} (optional), "source", "note"}.
// Writes moesim-counts JSON with the real layer ids and the pair counts as `pair_counts`.
// Checks: each layer sums to tokens x top_k, each top-1 row to tokens, each pair matrix to
// tokens x top_k, pairs join listed layers.
#include <algorithm>

#include <fmt/format.h>

#include "sim/import/import_util.h"

namespace moesim {
namespace {

std::vector<std::vector<double>> matrix(const JsonValue& v, size_t rows, size_t cols, const char* what) {
  const auto rs = v.as_array();
  if (rs.size() != rows) v.fail(fmt::format("expected {} rows ({}), got {}", rows, what, rs.size()));
  std::vector<std::vector<double>> out;
  for (const auto& r : rs) {
    const auto cells = r.as_array();
    if (cells.size() != cols) r.fail(fmt::format("expected {} experts (num_experts), got {}", cols, cells.size()));
    out.emplace_back();
    for (const auto& x : cells) out.back().push_back(x.as_number(0.0, 1e18));
  }
  return out;
}

void check_sum(const JsonValue& v, const std::vector<double>& row, double want, const char* what) {
  double s = 0;
  for (double x : row) s += x;
  if (s != want) v.fail(fmt::format("counts sum to {} but {} is {}", s, what, want));
}

}  // namespace

Imported import_olmoe_counts(const std::string& in, const ImportOptions& opt) {
  const auto doc = import::load_json(in);
  auto o = doc.root().as_object();
  ExpertCounts c;
  c.format = "moesim-counts";
  c.model = import::model_name(opt, o.required("model").as_string(), "olmoe-counts");
  const JsonValue experts_v = o.required("num_experts");
  c.num_experts = import::expert_count(in, opt, experts_v.as_int(1, 1 << 20), "olmoe-counts");
  const JsonValue k_v = o.required("top_k");
  c.top_k = k_v.as_int(1, c.num_experts);
  import::check_top_k(in, "$.top_k", opt, c.top_k);
  for (const auto& l : o.required("layers").as_array(1, 100000)) {
    c.layers.push_back(l.as_int(0, 100000));
    if (std::count(c.layers.begin(), c.layers.end(), c.layers.back()) > 1) l.fail(fmt::format("layer {} is listed twice", c.layers.back()));
  }
  import::check_layer_set(in, opt, c.layers);
  const int64_t tokens = o.required("tokens").as_positive_int();
  const JsonValue counts_v = o.required("expert_counts");
  const size_t L = c.layers.size(), E = static_cast<size_t>(c.num_experts);
  c.counts = matrix(counts_v, L, E, "one per layer");
  const double assignments = static_cast<double>(tokens) * static_cast<double>(c.top_k);
  for (size_t l = 0; l < L; ++l) check_sum(counts_v.as_array()[l], c.counts[l], assignments, "tokens x top_k");
  if (auto t1 = o.optional("expert_counts_top1")) {
    const auto top1 = matrix(*t1, L, E, "one per layer");
    for (size_t l = 0; l < L; ++l) check_sum(t1->as_array()[l], top1[l], static_cast<double>(tokens), "tokens");
  }
  if (auto pairs = o.optional("crosslayer_pair_counts")) {
    if (!pairs->is_object()) pairs->fail("expected an object of \"A->B\": [[E] x E] matrices");
    for (auto it = pairs->raw().begin(); it != pairs->raw().end(); ++it) {
      const JsonValue m(pairs->file_ptr(), pairs->path() + "." + it.key(), &it.value());
      int64_t from = 0, to = 0;
      if (!parse_layer_pair(it.key(), from, to) || from == to) m.fail("key must be \"A->B\" with two different layer ids");
      for (int64_t l : {from, to})
        if (std::find(c.layers.begin(), c.layers.end(), l) == c.layers.end()) m.fail(fmt::format("layer {} is not one of \"layers\"", l));
      auto pm = matrix(m, E, E, "num_experts");
      double s = 0;
      for (const auto& r : pm)
        for (double x : r) s += x;
      if (s != assignments) m.fail(fmt::format("pair counts sum to {} but tokens x top_k is {}", s, assignments));
      c.pair_counts[it.key()] = std::move(pm);
    }
  }
  for (const char* key : {"source", "domain", "note"})
    if (auto s = o.optional(key)) s->as_string();
  const std::string domain = o.optional("domain") ? o.required("domain").as_string() : std::string("?");
  const std::string origin = o.optional("source") ? o.required("source").as_string() : std::string("allenai/OLMoE routing analysis");
  c.source = fmt::format("olmoe-counts: {} ({}); domain {}, {} tokens", import::base_name(in), origin, domain, tokens);
  Imported out;
  out.counts = std::move(c);
  return out;
}

}  // namespace moesim
