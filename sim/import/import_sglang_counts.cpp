// Imports SGLang's expert-distribution counts: the JSON {"logical_count": [[count x experts] x
// layers]} that `--expert-distribution-recorder-mode stat` dumps and `--init-expert-location`
// loads (rows are all model layers, dense ones all zero), or the per-step form [steps][layers]
// [experts], which is summed over steps. Writes moesim-counts JSON. The file names no model,
// so --model is required; --top-k (optional) is checked against each row's sum.
#include <fmt/format.h>

#include "sim/import/import_util.h"

namespace moesim {

Imported import_sglang_counts(const std::string& in, const ImportOptions& opt) {
  const std::string model = import::model_name(opt, "", "sglang-counts");
  const auto doc = import::load_json(in);
  auto root = doc.root().as_object();
  const JsonValue lc = root.required("logical_count");
  const auto outer = lc.as_array(1, 1 << 24);
  const bool per_step = outer[0].is_array() && !outer[0].raw().empty() && outer[0].raw()[0].is_array();
  std::vector<std::vector<double>> sum;
  for (const auto& step : per_step ? outer : std::vector<JsonValue>{lc}) {
    const auto rows = step.as_array(1, 100000);
    if (!sum.empty() && rows.size() != sum.size())
      step.fail(fmt::format("wrong layer count: {} layers, but the first step has {}", rows.size(), sum.size()));
    if (sum.empty()) sum.assign(rows.size(), {});
    for (size_t l = 0; l < rows.size(); ++l) {
      const auto cells = rows[l].as_array(1, 1 << 20);
      if (sum[l].empty()) sum[l].assign(cells.size(), 0.0);
      if (cells.size() != sum[l].size() || cells.size() != sum[0].size())
        rows[l].fail(fmt::format("expected {} experts like the first row, got {}", sum[0].size(), cells.size()));
      for (size_t e = 0; e < cells.size(); ++e) sum[l][e] += cells[e].as_number(0.0, 1e18);
    }
  }
  ExpertCounts c;
  c.format = "moesim-counts";
  c.model = model;
  c.num_experts = import::expert_count(in, opt, static_cast<int64_t>(sum[0].size()), "sglang-counts");
  c.top_k = opt.top_k;
  c.layers = import::positional_layers(in, opt, static_cast<int64_t>(sum.size()));
  if (c.top_k > c.num_experts) throw InputError(fmt::format("--top-k {} exceeds the {} experts", c.top_k, c.num_experts));
  import::check_counts(in, sum, c.top_k, [&](size_t r) { return fmt::format("$.logical_count{}[{}]", per_step ? "[*]" : "", r); });
  c.counts = std::move(sum);
  c.source = fmt::format("sglang-counts: {} (SGLang expert-distribution recorder, logical_count{})", import::base_name(in),
                         per_step ? fmt::format(", {} steps summed", outer.size()) : "");
  Imported out;
  out.counts = std::move(c);
  if (per_step) out.notes.push_back(fmt::format("summed {} steps", outer.size()));
  return out;
}

}  // namespace moesim
