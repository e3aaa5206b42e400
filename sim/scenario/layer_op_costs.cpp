#include "sim/scenario/layer_op_costs.h"

#include <algorithm>

namespace moesim {

SimTime CostedOps::gpu() const {
  SimTime t;
  for (const auto& o : ops) t += o.gpu;
  return t;
}

SimTime CostedOps::gpu(LayerBlock block) const {
  SimTime t;
  for (const auto& o : ops)
    if (o.block == block) t += o.gpu;
  return t;
}

CostedOps cost_layer_ops(const DeviceCostModel& cost, const std::vector<LayerOp>& ops) {
  CostedOps out;
  out.ops.reserve(ops.size());
  for (const auto& op : ops) {
    // As before the per-op tables: the shared experts run beside the all-to-all (their measured
    // time is stretched by the SMs communication holds); attention and the MoE-local ops are not.
    const bool beside_comm = op.block == LayerBlock::SharedExpert;
    const OpTiming t = cost.op(op.table_op, op.coords, op.roofline, beside_comm);
    out.ops.push_back({op.kind, op.block, op.name, t.source, t.gpu, t.host, t.extrapolated});
  }
  return out;
}

SimTime eager_sequence_time(const std::vector<CostedOp>& ops) {
  SimTime issued, end;  // H_{i-1}, end_{i-1}
  for (const auto& o : ops) {
    const SimTime issued_after = issued + o.host;
    end = max(max(end, issued) + o.gpu, issued_after);
    issued = issued_after;
  }
  return end;
}

SimTime expert_block_host_time(const DeviceCostModel& cost, int64_t rows, int64_t hidden, int64_t intermediate) {
  const double r = static_cast<double>(std::max<int64_t>(1, rows));
  const auto gemm = cost.op("gemm", {r, static_cast<double>(2 * intermediate), static_cast<double>(hidden)}, OpCost{}, true);
  const auto act = cost.op("silu_mul", {r, static_cast<double>(intermediate)}, OpCost{}, true);
  return gemm.host + gemm.host + act.host;
}

SingleLayerCost cost_single_layer(const ModelConfig& m, const DeviceCostModel& cost, const LayerShape& s, const std::vector<int64_t>& counts,
                                  Dtype expert_dtype, double expert_weight_bytes, int64_t expert_tensor_parallel) {
  SingleLayerCost r;
  r.ops = cost_layer_ops(cost, attention_ops(m, s));
  const CostedOps moe = cost_layer_ops(cost, moe_local_ops(m, s));
  for (const auto& o : moe.ops)
    if (o.block == LayerBlock::MoeBeforeDispatch) r.ops.ops.push_back(o);
  const int64_t F = std::max<int64_t>(1, m.moe.expert_intermediate_size / expert_tensor_parallel);
  const OpTime e = cost.expert_block(m.hidden_size, static_cast<double>(F), expert_dtype, expert_weight_bytes, s.act_bytes, counts);
  int64_t rows = 0;
  for (int64_t c : counts) rows += c;
  r.ops.ops.push_back({LayerOpKind::Projection, LayerBlock::MoeBeforeDispatch, "experts", e.source, e.time,
                       expert_block_host_time(cost, rows, m.hidden_size, F), e.extrapolated});
  r.expert_source = e.source;
  r.expert_extrapolated = e.extrapolated;
  for (const auto& o : moe.ops)
    if (o.block == LayerBlock::MoeAfterCombine && o.kind != LayerOpKind::Residual) r.ops.ops.push_back(o);
  if (m.moe.num_shared_experts > 0)
    r.ops.append(cost_layer_ops(cost, swiglu_mlp_ops(m, s, m.moe.shared_expert_intermediate_size * m.moe.num_shared_experts,
                                                     LayerOpKind::SharedExpert, LayerBlock::SharedExpert, "shared expert")));
  for (const auto& o : moe.ops)
    if (o.block == LayerBlock::MoeAfterCombine && o.kind == LayerOpKind::Residual) r.ops.ops.push_back(o);
  const auto* table = cost.op_table();
  r.graph = r.ops.gpu() + SimTime::from_us(table ? table->graph_launch_us : 0.0);
  // Launched eagerly a layer cannot beat its own graph replay (the launch costs are what eager adds).
  r.eager = max(r.graph, eager_sequence_time(r.ops.ops) + SimTime::from_us(table ? table->eager_latency_us : 0.0));
  return r;
}

}  // namespace moesim
