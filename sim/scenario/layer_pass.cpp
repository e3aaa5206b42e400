#include "sim/scenario/layer_pass.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "sim/engine/parallel_for.h"
#include "sim/network/nccl_model.h"
#include "sim/scenario/collectives.h"

namespace moesim {
namespace {

DispatchOptions dispatch_options(const ExperimentConfig& c) {
  DispatchOptions o;
  o.num_experts = c.model.moe.num_experts;
  o.top_k = c.model.moe.top_k;
  o.expert_parallel = c.parallel.expert_parallel;
  o.expert_tensor_parallel = c.parallel.expert_tensor_parallel;
  o.devices_per_node = c.cluster.topology.devices_per_node;
  o.capacity_factor = c.moe.capacity_factor;
  o.padded = c.moe.dispatch_mode == DispatchMode::Padded;
  o.drop_lowest_weight = c.moe.drop_policy == DropPolicy::LowestWeight;
  return o;
}

// All-reduce of the attention output over the tensor-parallel group, inside a node: NCCL's
// protocols on an NVSwitch fabric (sim/network/nccl_model.h, in-switch reduction included), else a
// ring at the link's efficiency plus the profile's collective latency.
SimTime attention_tp_allreduce(const ExperimentConfig& c) {
  const int64_t tp = c.parallel.attention_tensor_parallel, T = c.workload.tokens_per_device;
  const double bytes = static_cast<double>(T * tp) * static_cast<double>(c.model.hidden_size) * 2.0;
  const auto& up = c.hardware.intra_node;
  if (up.fabric == "nvswitch") return nccl_time(NcclCollective::AllReduce, bytes, tp, up.bandwidth_Bps, true);
  return ring_allreduce_time(bytes, tp, up.bandwidth_Bps * up.efficiency, up.latency + c.hardware.collective_latency);
}

void accumulate(MoeLayerStats& ls, const DispatchResult& r, const MoePass& pass) {
  ls.assignments += r.assignments;
  ls.dropped += r.dropped;
  ls.local_tokens += r.local_tokens;
  ls.routed_tokens += r.routed_tokens;
  ls.token_nodes += r.token_nodes;
  ls.max_token_nodes = std::max(ls.max_token_nodes, r.max_token_nodes);
  ls.capacity = r.capacity;
  for (size_t e = 0; e < ls.expert_load.size(); ++e) {
    ls.expert_load[e] += r.expert_load[e];
    ls.expert_dropped[e] += r.expert_dropped[e];
  }
  // Bytes sent and received are summed independently (the invariant compares them).
  ls.dispatch_bytes_intra += pass.dispatch_net.bytes_intra_node;
  ls.dispatch_bytes_inter += pass.dispatch_net.bytes_inter_node;
  ls.combine_bytes_intra += pass.combine_net.bytes_intra_node;
  ls.combine_bytes_inter += pass.combine_net.bytes_inter_node;
  ls.bytes_sent += pass.dispatch_net.bytes_egress + pass.combine_net.bytes_egress;
  ls.bytes_received += pass.dispatch_net.bytes_ingress + pass.combine_net.bytes_ingress;
  ls.max_link_utilization = std::max({ls.max_link_utilization, pass.dispatch_net.max_link_utilization, pass.combine_net.max_link_utilization});
  ls.max_wire_utilization = std::max({ls.max_wire_utilization, pass.dispatch_net.max_wire_utilization, pass.combine_net.max_wire_utilization});
}

// The rows (deduplicated per token and device, own tokens included) and routed copies each device
// of [first, last) receives in one micro-batch; keeps the larger of each per device.
void note_received(const DispatchResult& r, int64_t first, int64_t last, std::vector<ReceivedTokens>& busiest) {
  std::vector<int64_t> rows(busiest.size(), 0);
  for (int64_t s = first; s < last; ++s)
    for (const auto* e = r.traffic.device_begin(s); e != r.traffic.device_end(s); ++e) rows[static_cast<size_t>(e->dst)] += e->tokens;
  for (int64_t d = first; d < last; ++d) {
    auto& b = busiest[static_cast<size_t>(d)];
    b.rows = std::max(b.rows, rows[static_cast<size_t>(d)]);
    b.copies = std::max(b.copies, std::accumulate(r.slot_tokens[d].begin(), r.slot_tokens[d].end(), int64_t{0}));
  }
}

std::vector<int32_t> top_destinations(const DispatchTraffic& traffic, int64_t devices) {
  std::vector<int32_t> top(static_cast<size_t>(devices), -1);
  for (int64_t s = 0; s < devices; ++s) {
    int64_t best = 0;
    for (const auto* e = traffic.device_begin(s); e != traffic.device_end(s); ++e)
      if (e->dst != s && e->tokens > best) best = e->tokens, top[static_cast<size_t>(s)] = e->dst;
  }
  return top;
}

}  // namespace

LayerShape layer_shape(const ExperimentConfig& c, const CostContext& ctx) {
  LayerShape s;
  s.tokens = c.workload.tokens_per_device;
  s.decode = c.workload.phase == WorkloadPhase::Decode;
  s.sequence_length = c.workload.sequence_length;
  s.context = c.workload.context_length;
  s.tensor_parallel = c.parallel.attention_tensor_parallel;
  s.weight_dtype = c.memory.weight_dtype;
  s.act_bytes = ctx.act_bytes_per_elem;
  s.kv_bytes = ctx.kv_bytes_per_elem;
  s.quantise_dispatch = dtype_bytes(c.moe.dispatch_dtype) < 2 || dtype_bytes(ctx.expert_dtype) < 2;
  s.lm_head_tokens = c.workload.phase == WorkloadPhase::Prefill ? std::max<int64_t>(1, s.tokens / c.workload.sequence_length) : s.tokens;
  return s;
}

namespace {

// What eager launching adds to a layer made of `seq`: the pipelined end time plus the latency,
// less the GPU times.
SimTime eager_overhead(const std::vector<CostedOp>& seq, double latency_us) {
  SimTime gpu;
  for (const auto& o : seq) gpu += o.gpu;
  const SimTime end = eager_sequence_time(seq) + SimTime::from_us(latency_us);
  return end > gpu ? end - gpu : SimTime::zero();
}

}  // namespace

DenseCosts dense_costs(const Scenario& sc) {
  const auto& c = sc.config();
  const auto& m = c.model;
  const auto& cost = sc.cost();
  const LayerShape s = layer_shape(c, sc.cost_context());
  DenseCosts d;
  d.attention_ops = cost_layer_ops(cost, attention_ops(m, s));
  d.moe_ops = cost_layer_ops(cost, moe_local_ops(m, s));
  if (m.moe.num_shared_experts > 0)
    d.shared_ops = cost_layer_ops(cost, swiglu_mlp_ops(m, s, m.moe.shared_expert_intermediate_size * m.moe.num_shared_experts,
                                                       LayerOpKind::SharedExpert, LayerBlock::SharedExpert, "shared expert"));
  if (m.dense_intermediate_size > 0)
    d.dense_ffn_ops = cost_layer_ops(cost, swiglu_mlp_ops(m, s, std::max<int64_t>(1, m.dense_intermediate_size / s.tensor_parallel),
                                                          LayerOpKind::DenseFfn, LayerBlock::DenseFfn, "dense FFN"));
  d.lm_head_ops = cost_layer_ops(cost, lm_head_ops(m, s));
  d.tp_allreduce = attention_tp_allreduce(c);
  d.attention = d.attention_ops.gpu() + d.tp_allreduce;
  d.attention_bwd = d.attention_ops.gpu() * 2 + d.tp_allreduce;
  d.moe_before = d.moe_ops.gpu(LayerBlock::MoeBeforeDispatch);
  d.moe_after = d.moe_ops.gpu(LayerBlock::MoeAfterCombine);
  d.shared_expert = d.shared_ops.gpu();
  d.dense_ffn = d.dense_ffn_ops.gpu();
  d.lm_head = d.lm_head_ops.gpu();
  if (!d.shared_ops.ops.empty()) d.shared_expert_source = d.shared_ops.ops.front().source;
  if (c.compute.launch_mode == LaunchMode::Eager) {
    const double latency = cost.op_table() ? cost.op_table()->eager_latency_us : 0.0;
    // A MoE layer as `cost layer` launches it, its expert block at a device's mean load.
    const auto& ctx = sc.cost_context();
    const int64_t local = std::max<int64_t>(1, m.moe.num_experts / c.parallel.expert_parallel);
    const SingleLayerCost one = cost_single_layer(m, cost, s, even_counts(s.tokens * m.moe.top_k, local), ctx.expert_dtype,
                                                  ctx.expert_weight_bytes_per_elem, c.parallel.expert_tensor_parallel);
    d.eager_moe_layer = eager_overhead(one.ops.ops, latency);
    std::vector<CostedOp> dense_seq = d.attention_ops.ops;
    dense_seq.insert(dense_seq.end(), d.dense_ffn_ops.ops.begin(), d.dense_ffn_ops.ops.end());
    d.eager_dense_layer = eager_overhead(dense_seq, latency);
  }
  return d;
}

MoeLayerPlanner::MoeLayerPlanner(const Scenario& sc)
    : sc_(sc),
      planner_(dispatch_options(sc.config()), sc.config().cluster.devices()),
      net_(sc.topology(), sc.config().cluster.network_model, FlowModelOptions{sc.config().cluster.flow_tolerance}) {
  batch_.top_k = static_cast<int>(sc.config().model.moe.top_k);
}

const RoutingBatch& MoeLayerPlanner::fill_batch(int64_t layer, int64_t mb, int64_t device, bool in_stage) {
  if (in_stage) {
    sc_.routing().fill(layer, mb, device, sc_.config().workload.tokens_per_device, batch_);
  } else {
    batch_.tokens = 0;
    batch_.experts.clear();
    batch_.weights.clear();
  }
  return batch_;
}

namespace {

// NCCL's all-to-allv inside one NVSwitch node runs at its protocols' rates and fixed times
// (sim/network/nccl_model.h) instead of the link's efficiency and the profile's latency; across
// nodes, or bound by something else, the network model's time stands.
void retime_as_nccl(const Topology& topo, const HardwareProfile& hw, CollectiveResult& r) {
  if (r.bottleneck_link < 0 || r.bottleneck_is_kernel || r.bytes_inter_node > 0 || hw.intra_node.fabric != "nvswitch") return;
  const TopoLink& l = topo.link(r.bottleneck_link);
  if (l.domain != LinkDomain::ScaleUp) return;
  const SimTime transfer = SimTime::from_seconds(r.bottleneck_link_bytes / (l.bandwidth_Bps * l.efficiency));
  const NcclRetime nccl = nccl_alltoall_retime(transfer, l.efficiency);
  const SimTime before = r.duration;
  r.duration = max(transfer, nccl.time);  // never above the wire
  r.fixed_latency = nccl.alpha;
  const double scale = before.seconds() / r.duration.seconds();
  r.max_link_utilization *= scale;
  r.max_wire_utilization *= scale;
}

}  // namespace

CollectiveResult MoeLayerPlanner::collective(const DispatchTraffic& traffic, A2aPhase phase, double bytes) {
  const A2aInput in{&sc_.topology(), &traffic, phase, bytes, sc_.a2a_kernel()};
  const A2aEmitter emit = sc_.a2a().factory;
  CollectiveResult r = net_.run([&](FlowSink& flows) { emit(in, flows); }, sc_.a2a_latency(phase));
  // An experiment that fixes the call's time keeps the network model's transfer.
  if (sc_.a2a().traits.kernel == A2aKernel::Nccl && !sc_.config().moe.all_to_all_latency) retime_as_nccl(sc_.topology(), sc_.config().hardware, r);
  return r;
}

void MoeLayerPlanner::cost_collectives(const DispatchTraffic& traffic, MoePass& pass) {
  const auto& c = sc_.config();
  // One device per EP group: every token's experts are local, so there is no all-to-all (the
  // local permutation is costed with the MoE-local ops).
  if (c.parallel.expert_parallel == 1) return;
  pass.dispatch_net = collective(traffic, A2aPhase::Dispatch, sc_.a2a_bytes().dispatch);
  pass.combine_net = collective(traffic, A2aPhase::Combine, sc_.a2a_bytes().combine);
  pass.dispatch = pass.dispatch_net.duration;
  pass.combine = pass.combine_net.duration;
  if (c.workload.phase == WorkloadPhase::Training) {
    // Gradients: the combine's runs like a dispatch, the dispatch's like a combine (bf16).
    const double grad_bytes = static_cast<double>(c.model.hidden_size) * 2.0;
    pass.combine_bwd = collective(traffic, A2aPhase::Dispatch, grad_bytes).duration;
    pass.dispatch_bwd = collective(traffic, A2aPhase::Combine, grad_bytes).duration;
  }
}

void MoeLayerPlanner::plan(int64_t l, std::vector<MoePass>& passes, MoeLayerStats& ls, int64_t replays) {
  const auto& c = sc_.config();
  const auto& m = c.model;
  const auto& ctx = sc_.cost_context();
  const int64_t D = c.cluster.devices(), M = c.workload.micro_batches;
  const int64_t first = sc_.stages().stage_of_layer[l] * sc_.stages().devices_per_stage, last = first + sc_.stages().devices_per_stage;
  const double intermediate = static_cast<double>(m.moe.expert_intermediate_size) / static_cast<double>(c.parallel.expert_tensor_parallel);
  ls.expert_load.assign(m.moe.num_experts, 0);
  ls.expert_dropped.assign(m.moe.num_experts, 0);
  ls.device_tokens.assign(D, 0);
  ls.busiest_received.assign(D, {});
  passes.resize(M);
  for (int64_t mb = 0; mb < M; ++mb) {
    const DispatchResult& r =
        planner_.plan([&](int64_t d) -> const RoutingBatch& { return fill_batch(l, mb, d, d >= first && d < last); }, sc_.placement(l));
    last_ = &r;
    MoePass& pass = passes[mb];
    pass.experts.assign(D, SimTime());
    for (int64_t d = first; d < last; ++d) {
      try {
        const OpTime t = sc_.cost().expert_block(m.hidden_size, intermediate, c.moe.expert_compute_dtype, ctx.expert_weight_bytes_per_elem,
                                                 ctx.act_bytes_per_elem, r.slot_tokens[d]);
        pass.experts[d] = t.time;
        sources_[t.extrapolated ? t.source + " (extrapolated)" : t.source] += replays;
      } catch (const CostSourceError& e) {
        throw input_error(c.file, "$.compute.expert_backend", e.what());
      }
      for (int64_t n : r.slot_tokens[d]) ls.device_tokens[d] += n;
    }
    note_received(r, first, last, ls.busiest_received);
    pass.top_destination = top_destinations(r.traffic, D);
    cost_collectives(r.traffic, pass);
    accumulate(ls, r, pass);
  }
}

namespace {

// Tokens of the pilot draw that ranks a layer's imbalance: enough that the busiest rank's share
// is within several percent (at top-8 over 32 ranks, 256 assignments per rank on average).
constexpr int64_t kPilotTokens = 1024;

// Max over mean of the (token, expert) assignments per EP rank of MoE layer l, in a pilot draw of
// the layer's own routing (a replicated expert's assignments split evenly over its copies). The
// expected loads alone miss what group-limited routing does to them.
double pilot_imbalance(const Scenario& sc, int64_t l) {
  RoutingBatch b;
  b.top_k = static_cast<int>(sc.config().model.moe.top_k);
  sc.routing().fill(l, 0, 0, kPilotTokens, b);
  const LayerPlacement& p = sc.placement(l);
  std::vector<double> rank_load(p.rank_slots.size(), 0.0);
  for (int32_t e : b.experts) {
    const auto& ranks = p.expert_ranks[static_cast<size_t>(e)];
    for (int32_t r : ranks) rank_load[static_cast<size_t>(r)] += 1.0 / static_cast<double>(ranks.size());
  }
  const double mean = static_cast<double>(b.experts.size()) / static_cast<double>(rank_load.size());
  return mean > 0 ? *std::max_element(rank_load.begin(), rank_load.end()) / mean : 1.0;
}

}  // namespace

std::vector<int64_t> planned_layer(const Scenario& sc) {
  const auto& m = sc.config().model;
  const int64_t n = sc.config().routing.planned_layers;
  std::vector<int64_t> planned(static_cast<size_t>(m.num_layers), -1);
  std::map<int64_t, std::vector<std::pair<double, int64_t>>> by_stage;  // stage -> (pilot imbalance, layer)
  for (int64_t l = 0; l < m.num_layers; ++l) {
    if (!m.layer_is_moe[l]) continue;
    planned[l] = l;
    if (n > 0) by_stage[sc.stages().stage_of_layer[l]].emplace_back(pilot_imbalance(sc, l), l);
  }
  for (auto& [stage, layers] : by_stage) {
    const auto count = static_cast<int64_t>(layers.size());
    if (n >= count) continue;
    std::sort(layers.begin(), layers.end());
    for (int64_t run = 0; run < n; ++run) {
      // The run of sorted layers [first, end) replays its layer nearest the run's mean imbalance.
      const int64_t first = (run * count + n - 1) / n, end = ((run + 1) * count + n - 1) / n;
      double mean = 0;
      for (int64_t j = first; j < end; ++j) mean += layers[j].first / static_cast<double>(end - first);
      int64_t best = first;
      for (int64_t j = first; j < end; ++j)
        if (std::abs(layers[j].first - mean) < std::abs(layers[best].first - mean)) best = j;
      for (int64_t j = first; j < end; ++j) planned[layers[j].second] = layers[best].second;
    }
  }
  return planned;
}

LayerPassResult run_layer_pass(const Scenario& sc, int threads, const std::function<void(int64_t, int64_t)>& progress) {
  const auto& m = sc.config().model;
  LayerPassResult out;
  out.dense = dense_costs(sc);
  out.moe.assign(m.num_layers, {});
  out.layer_stats.assign(m.num_layers, {});
  const std::vector<int64_t> planned = planned_layer(sc);
  std::vector<int64_t> replays(static_cast<size_t>(m.num_layers), 0);  // MoE layers each planned layer stands for
  for (int64_t p : planned)
    if (p >= 0) ++replays[p];
  parallel_for_each(
      m.num_layers, threads, [&](int64_t l) { return planned[l] == l; }, [&] { return MoeLayerPlanner(sc); },
      [&](int64_t l, MoeLayerPlanner& p) { p.plan(l, out.moe[l], out.layer_stats[l], replays[l]); },
      [&](MoeLayerPlanner& p) {
        for (const auto& [source, n] : p.expert_sources()) out.expert_sources[source] += n;
      },
      progress);
  for (int64_t l = 0; l < m.num_layers; ++l)
    if (planned[l] >= 0 && planned[l] != l) {
      out.moe[l] = out.moe[planned[l]];
      out.layer_stats[l] = out.layer_stats[planned[l]];
      out.layer_stats[l].planned_as = planned[l];
    }
  return out;
}

}  // namespace moesim
