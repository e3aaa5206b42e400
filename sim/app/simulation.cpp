#include "sim/app/simulation.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "sim/engine/parallel_for.h"
#include "sim/hardware/dense_gemm_table.h"
#include "sim/moe/dispatch_plan.h"

namespace moesim {

const char* op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::Attention: return "attention";
    case OpKind::DenseFfn: return "dense_ffn";
    case OpKind::SharedExpert: return "shared_expert";
    case OpKind::Experts: return "experts";
    case OpKind::Dispatch: return "dispatch";
    case OpKind::Combine: return "combine";
    case OpKind::LmHead: return "lm_head";
    case OpKind::GradSync: return "grad_sync";
    case OpKind::Optimizer: return "optimizer";
  }
  return "?";
}

bool is_comm(OpKind k) { return k == OpKind::Dispatch || k == OpKind::Combine || k == OpKind::GradSync; }

Simulation::Simulation(ExperimentConfig config)
    : cfg_(std::move(config)),
      params_(count_params(cfg_.model)),
      stages_(make_stage_layout(cfg_)),
      topo_(Topology::build(cfg_.cluster, cfg_.hardware)),
      roofline_(cfg_.hardware) {
  cost_.model = &cfg_.model;
  cost_.tensor_parallel = cfg_.parallel.attention_tensor_parallel;
  cost_.weight_bytes = dtype_bytes(cfg_.memory.weight_dtype);
  cost_.expert_weight_bytes = dtype_bytes(cfg_.memory.expert_weight_dtype);
  cost_.kv_bytes = dtype_bytes(cfg_.memory.kv_cache_dtype);
  cost_.expert_dtype = cfg_.moe.expert_compute_dtype;
  cost_.expert_tensor_parallel = cfg_.parallel.expert_tensor_parallel;

  a2a_algorithm_ = cfg_.moe.all_to_all;
  if (a2a_algorithm_ == "auto")
    a2a_algorithm_ = cfg_.cluster.topology == "hccs-mesh-roce" ? "hccl-hierarchical"
                     : cfg_.workload.phase == WorkloadPhase::Decode && cfg_.cluster.nodes > 1 ? "deepep-low-latency"
                                                                    : "deepep-normal";
  const std::string& backend = cfg_.compute.expert_backend;
  if (backend == "auto") {
    // Prefer PyTorch's grouped GEMM (what recent PyTorch MoE code runs) where it was measured for
    // the dtype, else the project's cuBLAS grouped block. Beyond the largest measured count the
    // block is compute-bound and scales with tokens: auto mode extrapolates there (and says so in
    // the report) rather than mixing in rooflines.
    auto table = find_calibration(cfg_.hardware);
    if (table) dense_gemms_ = DenseGemmTable(table->kernels.value("dense_gemm", Json()));
    for (const char* b : {"torch-grouped-mm", "cublas-grouped"}) {
      if (!table || !table->find(b, cfg_.moe.expert_compute_dtype)) continue;
      expert_model_ = std::make_unique<ExpertCostModel>(cfg_.hardware, std::move(table), b, true);
      break;
    }
  } else if (backend != "roofline") {
    try {
      expert_model_ = std::make_unique<ExpertCostModel>(cfg_.hardware, backend, cfg_.compute.allow_extrapolation);
    } catch (const InputError& e) {
      throw input_error(cfg_.file, "$.compute.expert_backend", e.what());
    }
    expert_model_strict_ = true;
    dense_gemms_ = DenseGemmTable(expert_model_->table()->kernels.value("dense_gemm", Json()));
  }
  const auto* policy = placement_registry().find(cfg_.placement.policy);
  if (!policy)
    throw input_error(cfg_.file, "$.placement.policy",
                      fmt::format("unknown placement policy \"{}\"; did you mean \"{}\"?", cfg_.placement.policy,
                                  closest(cfg_.placement.policy, placement_registry().names())));
  PlacementRequest req;
  req.num_experts = cfg_.model.moe.num_experts;
  req.expert_parallel = cfg_.parallel.expert_parallel;
  req.redundant_experts = cfg_.placement.redundant_experts;
  req.ranks_per_node = std::min(cfg_.parallel.expert_parallel, cfg_.cluster.devices_per_node);
  req.num_groups = cfg_.model.moe.num_groups;
  routing_ = make_routing_source(cfg_);
  if (cfg_.placement.policy != "contiguous" && cfg_.placement.policy != "round-robin") {
    req.layer_loads.resize(cfg_.model.num_layers);
    for (int64_t l = 0; l < cfg_.model.num_layers; ++l)
      if (cfg_.model.layer_is_moe[l]) req.layer_loads[l] = routing_->expected_load(l);
  }
  if (cfg_.placement.policy == "file")
    req.physical_to_logical = load_placement_file(cfg_.placement.file, cfg_.model.layer_is_moe, cfg_.model.moe.num_experts,
                                                  cfg_.model.moe.num_experts + cfg_.placement.redundant_experts);
  placements_.resize(cfg_.model.num_layers);
  for (int64_t l = 0; l < cfg_.model.num_layers; ++l) {
    if (!cfg_.model.layer_is_moe[l]) continue;
    try {
      placements_[l] = policy->factory(req, l);
    } catch (const std::invalid_argument& e) {
      throw input_error(cfg_.file, "$.placement", e.what());
    }
  }
}

void Simulation::freeze() {
  topo_.freeze();
  engine_.freeze();
}

SimTime Simulation::compute_time(const OpCost& op, bool moe_layer) const {
  double fraction = 1.0;
  if (moe_layer && cfg_.schedule.overlap != OverlapSchedule::None)
    fraction = static_cast<double>(cfg_.hardware.compute_units - cfg_.schedule.comm_compute_units) / static_cast<double>(cfg_.hardware.compute_units);
  return roofline_.estimate(op, fraction).time;
}

double Simulation::overlap_stretch() const {
  // Measured kernels ran on the whole GPU; under overlap the communication kernels hold part of
  // the SMs, so a measured time is stretched by the same share as the roofline's compute part.
  if (cfg_.schedule.overlap == OverlapSchedule::None) return 1.0;
  return static_cast<double>(cfg_.hardware.compute_units) / static_cast<double>(cfg_.hardware.compute_units - cfg_.schedule.comm_compute_units);
}

SimTime Simulation::shared_expert_time(int64_t tokens) {
  const auto& m = cfg_.model;
  shared_source_ = "roofline";
  const SimTime roofline = compute_time(shared_expert_cost(cost_, tokens), true);
  // Frameworks run the shared experts as two dense GEMMs (gate/up, down) around SiLU*mul: where
  // the table measured both shapes (bench_ops), their times, plus the activation's roofline.
  const DenseGemmTable& gemms = dense_gemms_;
  const int64_t H = m.hidden_size, F = m.moe.shared_expert_intermediate_size * m.moe.num_shared_experts;
  const auto gate_up = gemms.time_us(tokens, H, 2 * F, cfg_.memory.weight_dtype), down = gemms.time_us(tokens, F, H, cfg_.memory.weight_dtype);
  if (!gate_up || !down) return roofline;
  OpCost act;
  act.flops = 4.0 * static_cast<double>(tokens * F);
  act.bytes = 3.0 * static_cast<double>(tokens * F) * cost_.act_bytes;
  act.kernels = 1;
  shared_source_ = "calibrated:dense-gemm";
  return SimTime::from_seconds((*gate_up + *down) * 1e-6 * overlap_stretch()) + compute_time(act, true);
}

SimTime Simulation::expert_time(const std::vector<int64_t>& slot_tokens, std::map<std::string, int64_t>& sources) const {
  if (expert_model_) {
    const double divisor = static_cast<double>(cfg_.parallel.expert_tensor_parallel);
    try {
      const auto est = expert_model_->expert_block(cfg_.model.hidden_size,
                                                   static_cast<int64_t>(static_cast<double>(cfg_.model.moe.expert_intermediate_size) / divisor),
                                                   cfg_.moe.expert_compute_dtype, slot_tokens);
      ++sources[est.extrapolated ? est.source + " (extrapolated)" : est.source];
      return SimTime::from_ps(static_cast<int64_t>(static_cast<double>(est.time.ps()) * overlap_stretch()));
    } catch (const InputError& e) {
      if (expert_model_strict_) throw input_error(cfg_.file, "$.compute.expert_backend", e.what());
    }
  }
  ++sources["roofline"];
  return compute_time(expert_block_cost(cost_, slot_tokens), true);
}

void Simulation::layer_pass() {
  const auto& m = cfg_.model;
  const int64_t D = cfg_.cluster.devices(), M = cfg_.workload.micro_batches, T = cfg_.workload.tokens_per_device;
  const bool training = cfg_.workload.phase == WorkloadPhase::Training;
  const int64_t tp = cfg_.parallel.attention_tensor_parallel;

  // Dense pieces: the same on every device.
  const double context = cfg_.workload.phase == WorkloadPhase::Decode ? static_cast<double>(cfg_.workload.context_length)
                                                                      : (static_cast<double>(cfg_.workload.sequence_length) + 1.0) / 2.0;
  const double kv_read = cfg_.workload.phase == WorkloadPhase::Decode ? static_cast<double>(T) * context : 0.0;
  OpCost attn = attention_cost(cost_, T, context, kv_read);
  SimTime tp_comm;
  if (tp > 1) {
    // Ring all-reduce of the attention output over the tensor-parallel group, inside a node.
    const double bytes = static_cast<double>(T * tp) * static_cast<double>(m.hidden_size) * 2.0;
    const auto& up = cfg_.hardware.intra_node;
    tp_comm = SimTime::from_seconds(2.0 * static_cast<double>(tp - 1) / static_cast<double>(tp) * bytes / (up.bandwidth_Bps * up.efficiency)) + up.latency;
  }
  attention_ = compute_time(attn, false) + tp_comm;
  attention_bwd_ = compute_time(scaled(attn, 2.0), false) + tp_comm;
  router_ = compute_time(router_cost(cost_, T), true);
  dense_ = m.dense_intermediate_size > 0 ? compute_time(dense_ffn_cost(cost_, T), false) : SimTime();
  shared_source_ = "none";
  shared_ = m.moe.num_shared_experts > 0 ? shared_expert_time(T) : SimTime();
  int64_t head_tokens = T;
  if (cfg_.workload.phase == WorkloadPhase::Prefill) head_tokens = std::max<int64_t>(1, T / cfg_.workload.sequence_length);
  lm_head_ = compute_time(lm_head_cost(cost_, head_tokens), false);

  DispatchOptions opt;
  opt.num_experts = m.moe.num_experts;
  opt.top_k = m.moe.top_k;
  opt.expert_parallel = cfg_.parallel.expert_parallel;
  opt.expert_tensor_parallel = cfg_.parallel.expert_tensor_parallel;
  opt.devices_per_node = cfg_.cluster.devices_per_node;
  opt.capacity_factor = cfg_.moe.capacity_factor;
  opt.padded = cfg_.moe.dispatch_mode == DispatchMode::Padded;
  opt.drop_lowest_weight = cfg_.moe.drop_policy == DropPolicy::LowestWeight;
  const SimTime coll_lat = cfg_.hardware.collective_latency;
  FlowModelOptions flow_options;
  flow_options.completion_tolerance = cfg_.cluster.flow_tolerance;
  const NetworkModelKind net_kind = cfg_.cluster.network_model == "flow" ? NetworkModelKind::Flow : NetworkModelKind::Bottleneck;
  const A2aFactory algorithm = a2a_registry().find(a2a_algorithm_)->factory;
  const double dispatch_bytes = dispatch_token_bytes(cfg_), combine_bytes = combine_token_bytes(cfg_);
  const double grad_bytes = static_cast<double>(m.hidden_size) * 2.0;

  // What one thread needs to plan layers: every layer depends only on the frozen inputs, so
  // layers run on any thread in any order and give the same results (merged in layer order).
  struct Worker {
    DispatchPlanner planner;
    NetworkModel net;
    std::vector<RoutingBatch> batches;
    std::map<std::string, int64_t> sources;
  };
  auto make_worker = [&] {
    Worker w{DispatchPlanner(opt, D), NetworkModel(topo_, net_kind, flow_options), std::vector<RoutingBatch>(D), {}};
    for (auto& b : w.batches) b.top_k = static_cast<int>(m.moe.top_k);
    return w;
  };
  moe_.assign(m.num_layers, {});
  layer_stats_.assign(m.num_layers, {});
  auto plan_layer = [&](int64_t l, Worker& w) {
    auto collective = [&](const DispatchTraffic& traffic, A2aPhase phase, double bytes) {
      return w.net.run(algorithm(A2aInput{&topo_, &traffic, phase, bytes}), coll_lat);
    };
    const int64_t stage = stages_.stage_of_layer[l];
    const int64_t first = stage * stages_.devices_per_stage, last = first + stages_.devices_per_stage;
    auto& ls = layer_stats_[l];
    ls.expert_load.assign(m.moe.num_experts, 0);
    ls.expert_dropped.assign(m.moe.num_experts, 0);
    ls.device_tokens.assign(D, 0);
    moe_[l].resize(M);
    for (int64_t mb = 0; mb < M; ++mb) {
      for (int64_t d = 0; d < D; ++d) {
        if (d >= first && d < last) {
          routing_->fill(l, mb, d, T, w.batches[d]);
        } else {
          w.batches[d].tokens = 0;
          w.batches[d].experts.clear();
          w.batches[d].weights.clear();
        }
      }
      const DispatchResult& r = w.planner.plan(w.batches, placements_[l]);
      MoePass& pass = moe_[l][mb];
      pass.experts.assign(D, SimTime());
      for (int64_t d = first; d < last; ++d) {
        pass.experts[d] = expert_time(r.slot_tokens[d], w.sources);
        for (int64_t n : r.slot_tokens[d]) ls.device_tokens[d] += n;
      }
      pass.top_destination.assign(D, -1);
      for (int64_t s = 0; s < D; ++s) {
        int64_t best = 0;
        for (const auto* e = r.traffic.device_begin(s); e != r.traffic.device_end(s); ++e)
          if (e->dst != s && e->tokens > best) best = e->tokens, pass.top_destination[s] = e->dst;
      }
      pass.dispatch_net = collective(r.traffic, A2aPhase::Dispatch, dispatch_bytes);
      pass.combine_net = collective(r.traffic, A2aPhase::Combine, combine_bytes);
      pass.dispatch = pass.dispatch_net.duration;
      pass.combine = pass.combine_net.duration;
      if (training) {
        // Gradients: the combine's runs like a dispatch, the dispatch's like a combine (bf16).
        pass.combine_bwd = collective(r.traffic, A2aPhase::Dispatch, grad_bytes).duration;
        pass.dispatch_bwd = collective(r.traffic, A2aPhase::Combine, grad_bytes).duration;
      }
      // Accumulate the layer's statistics; bytes sent and received are summed independently.
      ls.assignments += r.assignments;
      ls.dropped += r.dropped;
      ls.local_tokens += r.local_tokens;
      ls.routed_tokens += r.routed_tokens;
      ls.token_nodes += r.token_nodes;
      ls.max_token_nodes = std::max(ls.max_token_nodes, r.max_token_nodes);
      ls.capacity = r.capacity;
      for (int64_t e = 0; e < m.moe.num_experts; ++e) {
        ls.expert_load[e] += r.expert_load[e];
        ls.expert_dropped[e] += r.expert_dropped[e];
      }
      ls.dispatch_bytes_intra += pass.dispatch_net.bytes_intra_node;
      ls.dispatch_bytes_inter += pass.dispatch_net.bytes_inter_node;
      ls.combine_bytes_intra += pass.combine_net.bytes_intra_node;
      ls.combine_bytes_inter += pass.combine_net.bytes_inter_node;
      ls.bytes_sent += pass.dispatch_net.bytes_egress + pass.combine_net.bytes_egress;
      ls.bytes_received += pass.dispatch_net.bytes_ingress + pass.combine_net.bytes_ingress;
      ls.max_link_utilization = std::max({ls.max_link_utilization, pass.dispatch_net.max_link_utilization, pass.combine_net.max_link_utilization});
    }
  };
  parallel_for_each(
      m.num_layers, threads_, [&](int64_t l) { return m.layer_is_moe[l] != 0; }, make_worker, plan_layer,
      [&](Worker& w) {
        for (const auto& [source, n] : w.sources) expert_sources_[source] += n;
      },
      progress_);
  hbm_ = device_memory(cfg_, params_, stages_, placements_);
  if (training) {
    grad_sync_ = grad_sync_time();
    double params = 0;
    for (const auto& [name, b] : hbm_[0].entries())
      if (name == "optimizer_state") params = b / 12.0;
    OpCost opt_cost;
    opt_cost.flops = params * 10.0;
    opt_cost.bytes = params * 28.0;
    opt_cost.dtype = "fp32";
    opt_cost.kernels = 4;
    optimizer_ = compute_time(opt_cost, false);
  }
}

SimTime Simulation::grad_sync_time() const {
  // Ring all-reduce (2(n-1)/n of the bytes through the slowest hop) of non-expert gradients over
  // the attention data-parallel group and of expert gradients over the expert data-parallel group.
  const auto& hw = cfg_.hardware;
  const int64_t D = cfg_.cluster.devices(), pp = stages_.stages;
  const double dense = static_cast<double>(params_.total - params_.routed_expert * cfg_.model.moe.num_experts * cfg_.model.num_moe_layers()) / static_cast<double>(pp * cfg_.parallel.attention_tensor_parallel);
  const double expert = static_cast<double>(params_.routed_expert * cfg_.model.num_moe_layers()) *
                        static_cast<double>(cfg_.model.moe.num_experts + cfg_.placement.redundant_experts) /
                        static_cast<double>(cfg_.parallel.expert_parallel * cfg_.parallel.expert_tensor_parallel * pp);
  auto ring = [&](double bytes, int64_t n, int64_t span_devices) {
    if (n <= 1) return SimTime();
    const bool inter = span_devices > cfg_.cluster.devices_per_node;
    const auto& link = inter ? hw.inter_node : hw.intra_node;
    const double bw = link.bandwidth_Bps * link.efficiency *
                      (inter ? static_cast<double>(std::max<int64_t>(1, cfg_.cluster.nics_per_node)) / static_cast<double>(cfg_.cluster.devices_per_node) : 1.0);
    return SimTime::from_seconds(2.0 * static_cast<double>(n - 1) / static_cast<double>(n) * bytes / bw) + link.latency + hw.collective_latency;
  };
  const int64_t dp = cfg_.parallel.attention_data_parallel;
  const int64_t edp = D / (cfg_.parallel.expert_parallel * cfg_.parallel.expert_tensor_parallel * pp);
  return ring(dense * 2.0, dp, D / pp) + ring(expert * 2.0, edp, D / pp);
}

int32_t Simulation::add(const OpInfo& info, const std::vector<int32_t>& streams, SimTime duration, const std::vector<int32_t>& deps) {
  const int32_t id = sched_.add_op(streams, duration, deps);
  op_info_.push_back(info);
  return id;
}

void Simulation::run() {
  if (engine_.phase() != Phase::Frozen) throw std::logic_error("simulation must be frozen before it runs");
  const auto t0 = std::chrono::steady_clock::now();
  try {
    layer_pass();
    build_step_graph();
    sched_.attach(engine_);
    engine_.run();
  } catch (const std::overflow_error& e) {
    throw input_error(cfg_.file, "", std::string(e.what()) + ": the step would last longer than the simulated clock holds (2^63 ps, about 106 days); check the sizes in the model and workload");
  }
  sched_.check_complete();
  SimTime stage_end_max;
  for (size_t i = 0; i < sched_.num_ops(); ++i) stage_end_max = max(stage_end_max, sched_.end(static_cast<int32_t>(i)));
  if (stages_.stages > 1) {
    // 1F1B pipeline bubble: (stages - 1) micro-batch slots of the slowest stage.
    const int64_t M = cfg_.workload.micro_batches;
    pipeline_bubble_ = SimTime::from_ps(stage_end_max.ps() / M * (stages_.stages - 1));
  }
  step_time_ = stage_end_max + pipeline_bubble_;
  stats_.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stats_.events = engine_.events_executed();
  stats_.ops = sched_.num_ops();
  ran_ = true;
}

}  // namespace moesim
