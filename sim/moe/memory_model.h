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
  bool recompute_full = false;           // training: keep each layer's input only, recompute the rest in backward
};

// Adam keeps fp32 master weights, momentum and variance: 12 bytes per parameter (Rajbhandari et
// al., "ZeRO", SC'20, Sec. 3.1: 'K = 12' for mixed-precision Adam).
inline constexpr double kAdamStateBytesPerParam = 12.0;

// The tokens one device receives in one MoE layer's dispatch, in the busiest micro-batch (from the
// layer pass): rows (one per token and device: what DeepEP's normal kernels return) and routed
// copies (one per token and local expert: what the expert GEMMs take).
struct ReceivedTokens {
  int64_t rows = 0, copies = 0;
};

// How the all-to-all allocates (sim/network/comm_buffers.h sizes DeepEP's buffers).
struct A2aBufferPlan {
  bool fixed_per_expert = false;    // DeepEP low latency: [local experts, EP x max tokens, H] per call
  int64_t max_tokens_per_rank = 0;  // fixed_per_expert: num_max_dispatch_tokens_per_rank
  double preallocated_bytes = 0;    // DeepEP's NVLink + RDMA buffers, allocated once
};

// What the ledger reads: the sections of the experiment it depends on, the bytes of one
// dispatched and one combined token (sim/network/a2a_wire.h), and how the all-to-all allocates.
struct MemoryInputs {
  const ModelConfig* model = nullptr;
  const ParallelConfig* parallel = nullptr;
  const WorkloadConfig* workload = nullptr;
  const MoeRunConfig* moe = nullptr;
  const MemoryConfig* memory = nullptr;
  OverlapSchedule overlap = OverlapSchedule::None;
  int64_t devices = 1;
  double dispatch_unit_bytes = 0;  // one token's hidden in the dispatch format, scales and header (no top-k ids)
  double combine_unit_bytes = 0;   // one token's hidden in the combine format
  A2aBufferPlan a2a_buffers;
  // [layer][device] from the layer pass; nullptr (no routing replayed): every token of the EP
  // group arrives at the device once, the bound a dropless dispatch can reach.
  const std::vector<std::vector<ReceivedTokens>>* received = nullptr;
};

// One ledger per device, at the device's peak: resident bytes (weights, KV cache, training state,
// saved activations, DeepEP's preallocated buffers, workspace) plus the transient buffers
// of the op where they peak (layer_liveness.h), which the ledger names (HbmLedger::peak_op).
// placements[l] is the placement of model layer l (empty for dense layers).
std::vector<HbmLedger> device_memory(const MemoryInputs& in, const ParamCount& params, const StageLayout& stages,
                                     const std::vector<LayerPlacement>& placements);

}  // namespace moesim
