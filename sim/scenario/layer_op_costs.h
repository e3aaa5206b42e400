// The ops of a layer (sim/moe/layer_ops.h) costed on one device by its cost model: each op's GPU
// time and source, sums per block and per kind, and the time of a sequence of ops launched eagerly.
//
// Eager launch (compute.launch_mode "eager"): the host issues op after op, taking each op's
// measured host time h_i; the GPU runs op i once the host has begun issuing it and op i-1 has
// finished, and op i cannot end before its last kernel is issued:
//   H_i = h_1 + ... + h_i,   end_i = max(max(end_{i-1}, H_{i-1}) + g_i, H_i),
// plus, once per launched sequence, the table's eager latency (the median over its points of
// eager_us - max(graph_us, host_us): the time from the host's last call to the GPU's end). In a
// CUDA graph the ops run back to back: the sum of g_i.
#pragma once
#include <string>
#include <vector>

#include "sim/engine/sim_time.h"
#include "sim/hardware/device_cost.h"
#include "sim/moe/layer_ops.h"

namespace moesim {

struct CostedOp {
  LayerOpKind kind = LayerOpKind::Norm;
  LayerBlock block = LayerBlock::Attention;
  std::string name, source;
  SimTime gpu, host;
  bool extrapolated = false;
};

struct CostedOps {
  std::vector<CostedOp> ops;
  SimTime gpu() const;
  SimTime gpu(LayerBlock block) const;
  void append(const CostedOps& other) { ops.insert(ops.end(), other.ops.begin(), other.ops.end()); }
};

// Shared experts are costed beside communication (DeviceCostModel::op: stretched by the SMs an
// overlapped all-to-all holds), as the expert blocks are; the other ops are not.
CostedOps cost_layer_ops(const DeviceCostModel& cost, const std::vector<LayerOp>& ops);

// The end time of `ops` launched eagerly from an idle host and GPU (formula above), without the latency.
SimTime eager_sequence_time(const std::vector<CostedOp>& ops);

// The host's time to issue one grouped SwiGLU expert block (two grouped GEMMs and the activation,
// taken as the measured GEMM and SiLU*mul launches for `rows` x `intermediate`).
SimTime expert_block_host_time(const DeviceCostModel& cost, int64_t rows, int64_t hidden, int64_t intermediate);

// One whole transformer layer on one device (`moesim cost layer`; the same ops and cost model as
// `moesim run`): attention, the MoE-local ops, the expert block over `counts` (tokens per local
// expert), shared experts, in launch order. graph: the ops' GPU times plus one graph launch (the
// layer replayed as a graph of its own, as calibration/bench_transformer_layer.py times it; `run`
// replays a step, so it adds none per layer); eager: the eager pipeline plus the eager latency,
// never below graph. Costed on an idle GPU: no all-to-all and no tensor-parallel all-reduce, and
// the shared expert is not stretched by the SMs an overlapped all-to-all holds (as in `run`).
struct SingleLayerCost {
  CostedOps ops;  // the expert block is the op of kind Projection named "experts"
  SimTime graph, eager;
  std::string expert_source;
  bool expert_extrapolated = false;
};
SingleLayerCost cost_single_layer(const ModelConfig& m, const DeviceCostModel& cost, const LayerShape& s, const std::vector<int64_t>& counts,
                                  Dtype expert_dtype, double expert_weight_bytes, int64_t expert_tensor_parallel);

}  // namespace moesim
