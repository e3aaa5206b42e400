// Fills each device's HBM ledger from the model, the layout and the workload: weights by their
// sharding, expert slots (with redundant copies), training state (gradients, Adam with fp32
// master weights, ZeRO-1 sharding), saved or transient activations, KV cache, all-to-all buffers
// and workspace.
#pragma once
#include <vector>

#include "sim/app/experiment_config.h"
#include "sim/moe/hbm_ledger.h"
#include "sim/moe/param_count.h"
#include "sim/moe/placement.h"

namespace moesim {

struct StageLayout {
  int64_t stages = 1;
  int64_t devices_per_stage = 1;
  std::vector<int64_t> stage_of_layer;  // [model layer]
  int64_t stage_of_device(int64_t d) const { return d / devices_per_stage; }
};

StageLayout make_stage_layout(const ExperimentConfig& c);

// One ledger per device. placements[l] is the placement of model layer l (empty for dense layers).
std::vector<HbmLedger> device_memory(const ExperimentConfig& c, const ParamCount& params, const StageLayout& stages,
                                     const std::vector<LayerPlacement>& placements);

// Bytes of one dispatched token (hidden in the dispatch dtype, fp8 scales per 128 values, top-k
// ids and weights) and of one combined token (hidden in the combine dtype).
double dispatch_token_bytes(const ExperimentConfig& c);
double combine_token_bytes(const ExperimentConfig& c);

}  // namespace moesim
