// Load-aware greedy placement with redundant experts, in the spirit of DeepSeek's EPLB (global
// policy): give each extra slot to the expert with the highest load per copy, then place copies,
// heaviest first, on the expert-parallel rank with the least load that still has a free slot
// and no copy of that expert (longest-processing-time-first bin packing, Graham 1969).
#include <algorithm>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "sim/moe/placement.h"

namespace moesim {

LayerPlacement greedy_placement(const PlacementRequest& r, int64_t layer) {
  const int64_t E = r.num_experts, EP = r.expert_parallel, slots = E + r.redundant_experts;
  if (slots % EP != 0) throw std::invalid_argument(fmt::format("{} slots do not divide over {} ranks", slots, EP));
  const int64_t per_rank = slots / EP;
  std::vector<double> load(E, 1.0);
  if (!r.layer_loads.empty() && !r.layer_loads.at(layer).empty()) load = r.layer_loads[layer];
  std::vector<int64_t> copies(E, 1);
  for (int64_t i = 0; i < r.redundant_experts; ++i) {
    int64_t best = 0;
    for (int64_t e = 1; e < E; ++e)
      if (load[e] / copies[e] > load[best] / copies[best]) best = e;
    ++copies[best];
  }
  struct Copy {
    double load;
    int32_t expert;
  };
  std::vector<Copy> all;
  for (int64_t e = 0; e < E; ++e)
    for (int64_t c = 0; c < copies[e]; ++c) all.push_back({load[e] / copies[e], static_cast<int32_t>(e)});
  std::stable_sort(all.begin(), all.end(), [](const Copy& a, const Copy& b) { return a.load > b.load; });
  LayerPlacement p;
  p.rank_slots.assign(EP, {});
  std::vector<double> rank_load(EP, 0.0);
  for (const Copy& c : all) {
    int64_t best = -1;
    for (int pass = 0; pass < 2 && best < 0; ++pass)
      for (int64_t k = 0; k < EP; ++k) {
        if (static_cast<int64_t>(p.rank_slots[k].size()) >= per_rank) continue;
        const bool has = std::find(p.rank_slots[k].begin(), p.rank_slots[k].end(), c.expert) != p.rank_slots[k].end();
        if (pass == 0 && has) continue;
        if (best < 0 || rank_load[k] < rank_load[best]) best = k;
      }
    p.rank_slots[best].push_back(c.expert);
    rank_load[best] += c.load;
  }
  finalize_placement(p, E);
  return p;
}

}  // namespace moesim
