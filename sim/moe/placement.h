// Expert placement: which logical experts each expert-parallel rank holds in its slots, per MoE
// layer. A logical expert may have several physical copies (redundant experts); its tokens are
// split among them. Policies are registered with a description and a citation.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sim/base/registry.h"

namespace moesim {

struct LayerPlacement {
  std::vector<std::vector<int32_t>> rank_slots;    // [ep rank][slot] -> logical expert
  std::vector<std::vector<int32_t>> expert_ranks;  // [logical expert] -> ranks holding a copy (sorted)
};

struct PlacementRequest {
  int64_t num_experts = 0;
  int64_t expert_parallel = 1;
  int64_t redundant_experts = 0;
  int64_t ranks_per_node = 1;
  int64_t num_groups = 1;
  // Per MoE layer expert loads, when known (load-aware policies); empty otherwise.
  std::vector<std::vector<double>> layer_loads;
  // For the "file" policy: per model layer, physical slot -> logical expert (slot s on rank
  // s / slots_per_rank), as SGLang's physical_to_logical_map.
  std::vector<std::vector<int32_t>> physical_to_logical;
};

using PlacementFactory = LayerPlacement (*)(const PlacementRequest&, int64_t layer);

// What a policy needs and allows, asked by callers instead of its name.
struct PlacementTraits {
  bool needs_loads = false;        // reads PlacementRequest::layer_loads (per-layer expert loads)
  bool needs_file = false;         // reads PlacementRequest::physical_to_logical (placement.file)
  bool allows_redundancy = false;  // accepts redundant_experts > 0
};

using PlacementRegistry = Registry<PlacementFactory, PlacementTraits>;
const PlacementRegistry& placement_registry();

// Checks that every expert has a copy and every rank has the same slot count; throws
// std::logic_error otherwise. Fills expert_ranks from rank_slots.
void finalize_placement(LayerPlacement& p, int64_t num_experts);

// Reads an SGLang-style placement file ({"physical_to_logical_map": [[slot -> logical] x layers]},
// one row per model layer, per MoE layer, or a single row for all) into per-model-layer rows.
// Each row holds `slots` expert ids, slots / expert_parallel per rank; an InputError at the entry
// for a wrong count, an id out of range, or an expert twice on one rank.
std::vector<std::vector<int32_t>> load_placement_file(const std::string& path, const std::vector<bool>& layer_is_moe,
                                                      int64_t num_experts, int64_t slots, int64_t expert_parallel);

}  // namespace moesim
