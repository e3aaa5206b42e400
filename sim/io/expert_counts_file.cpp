#include "sim/io/expert_counts_file.h"

#include <cmath>

#include <fmt/format.h>

#include "sim/io/json_reader.h"

namespace moesim {
namespace {

std::vector<std::vector<double>> read_matrix(const JsonValue& v) {
  std::vector<std::vector<double>> rows;
  size_t width = 0;
  for (const auto& row : v.as_array(1, 100000)) {
    std::vector<double> r;
    for (const auto& x : row.as_array(1, 1 << 20)) r.push_back(x.as_number(0.0, 1e18));
    if (width && r.size() != width) row.fail(fmt::format("expected {} experts like the first row, got {}", width, r.size()));
    width = r.size();
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace

ExpertCounts load_expert_counts(const std::string& path) {
  const auto doc = JsonDocument::load_file(path);
  auto o = doc.root().as_object();
  ExpertCounts c;
  if (o.has("logical_count")) {
    c.format = "sglang-logical-count";
    c.counts = read_matrix(o.required("logical_count"));
    for (size_t i = 0; i < c.counts.size(); ++i) c.layers.push_back(static_cast<int64_t>(i));
  } else if (o.has("format")) {
    o.required("format").as_choice({"moesim-counts"});
    c.format = "moesim-counts";
    o.optional("model");
    o.optional("source");
    if (auto k = o.optional("top_k")) c.top_k = k->as_positive_int();
    auto layers = o.required("layers").as_array(1, 100000);
    for (const auto& l : layers) c.layers.push_back(l.as_int(0, 100000));
    c.counts = read_matrix(o.required("counts"));
    if (c.counts.size() != c.layers.size())
      o.required("counts").fail(fmt::format("has {} rows but \"layers\" lists {}", c.counts.size(), c.layers.size()));
  } else {
    doc.root().fail("not an expert-count file: expected \"logical_count\" (SGLang) or \"format\": \"moesim-counts\"");
  }
  if (auto n = o.optional("num_experts")) {
    c.num_experts = n->as_positive_int();
    if (static_cast<int64_t>(c.counts[0].size()) != c.num_experts)
      n->fail(fmt::format("num_experts {} but rows have {} columns", c.num_experts, c.counts[0].size()));
  }
  c.num_experts = static_cast<int64_t>(c.counts[0].size());
  o.finish();
  return c;
}

}  // namespace moesim
