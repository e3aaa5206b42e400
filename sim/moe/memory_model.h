// Fills each device's HBM ledger from the model, the layout and the workload: weights by their
// sharding, expert slots (with redundant copies), training state (gradients, Adam with fp32
// master weights, ZeRO-1 sharding), saved or transient activations, KV cache, all-to-all buffers
// and workspace.
#pragma once
#include <vector>

#include "sim/base/dtype.h"
#include "sim/moe/hbm_ledger.h"
#include "sim/moe/model_config.h"
#include "sim/moe/moe_run_config.h"
#include "sim/moe/parallel_layout.h"
#include "sim/moe/param_count.h"
#include "sim/moe/placement.h"
#include "sim/moe/workload.h"

namespace moesim {

// The experiment's `memory` section.
struct MemoryConfig {
  Dtype weight_dtype = Dtype::Bf16;      // attention, dense and shared weights
  Dtype expert_weight_dtype = Dtype::Bf16;
  Dtype kv_cache_dtype = Dtype::Bf16;
  Dtype grad_dtype = Dtype::Fp32;        // training
  int64_t zero_stage = 1;                // 0 or 1: optimizer state sharded over data parallel
  double workspace_bytes = 1073741824.0; // framework workspace (cuBLAS, allocator slack)
};

// Adam keeps fp32 master weights, momentum and variance: 12 bytes per parameter (Rajbhandari et
// al., "ZeRO", SC'20, Sec. 3.1: 'K = 12' for mixed-precision Adam).
inline constexpr double kAdamStateBytesPerParam = 12.0;

// What the ledger reads: the sections of the experiment it depends on, and the bytes of one
// dispatched and one combined unit on the wire (sim/network/a2a_wire.h).
struct MemoryInputs {
  const ModelConfig* model = nullptr;
  const ParallelConfig* parallel = nullptr;
  const WorkloadConfig* workload = nullptr;
  const MoeRunConfig* moe = nullptr;
  const MemoryConfig* memory = nullptr;
  OverlapSchedule overlap = OverlapSchedule::None;
  int64_t devices = 1;
  double dispatch_unit_bytes = 0;
  double combine_unit_bytes = 0;
};

// One ledger per device. placements[l] is the placement of model layer l (empty for dense layers).
std::vector<HbmLedger> device_memory(const MemoryInputs& in, const ParamCount& params, const StageLayout& stages,
                                     const std::vector<LayerPlacement>& placements);

}  // namespace moesim
