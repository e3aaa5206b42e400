#include "sim/moe/placement.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace moesim {

void finalize_placement(LayerPlacement& p, int64_t num_experts) {
  p.expert_ranks.assign(num_experts, {});
  const size_t slots = p.rank_slots.empty() ? 0 : p.rank_slots[0].size();
  for (size_t r = 0; r < p.rank_slots.size(); ++r) {
    if (p.rank_slots[r].size() != slots) throw std::logic_error("placement: ranks hold different slot counts");
    for (int32_t e : p.rank_slots[r]) {
      if (e < 0 || e >= num_experts) throw std::logic_error(fmt::format("placement: expert {} out of range", e));
      p.expert_ranks[e].push_back(static_cast<int32_t>(r));
    }
  }
  for (int64_t e = 0; e < num_experts; ++e) {
    if (p.expert_ranks[e].empty()) throw std::logic_error(fmt::format("placement: expert {} has no copy", e));
    std::sort(p.expert_ranks[e].begin(), p.expert_ranks[e].end());
  }
}

namespace {

void require_no_redundancy(const PlacementRequest& r, const char* policy) {
  if (r.redundant_experts != 0)
    throw std::invalid_argument(fmt::format("placement \"{}\" has no redundant experts; use a load-aware policy for redundant_experts > 0", policy));
}

// Rank r holds experts [r*E/EP, (r+1)*E/EP): what Megatron-Core and vLLM do by default.
LayerPlacement contiguous(const PlacementRequest& r, int64_t) {
  require_no_redundancy(r, "contiguous");
  LayerPlacement p;
  const int64_t per = r.num_experts / r.expert_parallel;
  p.rank_slots.resize(r.expert_parallel);
  for (int64_t e = 0; e < r.num_experts; ++e) p.rank_slots[e / per].push_back(static_cast<int32_t>(e));
  finalize_placement(p, r.num_experts);
  return p;
}

// Expert e goes to rank e mod EP: spreads adjacent (often co-activated) experts apart.
LayerPlacement round_robin(const PlacementRequest& r, int64_t) {
  require_no_redundancy(r, "round-robin");
  LayerPlacement p;
  p.rank_slots.resize(r.expert_parallel);
  for (int64_t e = 0; e < r.num_experts; ++e) p.rank_slots[e % r.expert_parallel].push_back(static_cast<int32_t>(e));
  finalize_placement(p, r.num_experts);
  return p;
}

}  // namespace

LayerPlacement eplb_global(const PlacementRequest& r, int64_t layer);
LayerPlacement eplb_hierarchical(const PlacementRequest& r, int64_t layer);
LayerPlacement file_placement(const PlacementRequest& r, int64_t layer);

namespace {

PlacementRegistry build_registry() {
  PlacementRegistry reg;
  const PlacementTraits fixed{false, false, false}, load_aware{true, false, true}, from_file{false, true, true};
  reg.add({"contiguous", "rank r holds experts [r*E/EP, (r+1)*E/EP) in order; no redundant copies",
           "default expert-parallel layout of Megatron-Core and vLLM", &contiguous, fixed});
  reg.add({"round-robin", "expert e on rank e mod EP; no redundant copies",
           "strided expert layout (e.g. SGLang/vLLM 'round_robin' expert placement)", &round_robin, fixed});
  reg.add({"greedy", "load-aware greedy: extra slots to the experts with the most load per copy, then copies heaviest-first onto the least-loaded rank (the same algorithm as eplb-global)",
           "longest-processing-time-first bin packing (Graham 1969)", &eplb_global, load_aware});
  reg.add({"eplb-hierarchical", "DeepSeek EPLB, hierarchical: expert groups packed onto nodes, heaviest experts replicated inside each node, copies balanced over its GPUs",
           "DeepSeek EPLB (github.com/deepseek-ai/EPLB), used for prefill in DeepSeek-V3 inference (arXiv:2412.19437)", &eplb_hierarchical, load_aware});
  reg.add({"eplb-global", "DeepSeek EPLB, global: heaviest experts replicated, copies balanced over all GPUs regardless of groups",
           "DeepSeek EPLB (github.com/deepseek-ai/EPLB), used for decode in DeepSeek-V3 inference", &eplb_global, load_aware});
  reg.add({"file", "read from placement.file: SGLang's physical_to_logical_map (slot -> logical expert per layer)",
           "SGLang --init-expert-location / ExpertLocationMetadata", &file_placement, from_file});
  return reg;
}

}  // namespace

const PlacementRegistry& placement_registry() {
  static const PlacementRegistry registry = build_registry();
  return registry;
}

}  // namespace moesim
