#include "sim/scenario/simulation.h"

#include <chrono>

#include "sim/network/nccl_model.h"
#include "sim/scenario/collectives.h"

namespace moesim {

Simulation::Simulation(ExperimentConfig config, int setup_threads) : scenario_(std::make_unique<Scenario>(std::move(config), setup_threads)) {}

void Simulation::freeze() {
  scenario_->freeze();
  engine_.freeze();
}

// All-reduce of non-expert gradients over the attention data-parallel group and of expert
// gradients over the expert data-parallel group: inside one NVSwitch node NCCL's protocols
// (sim/network/nccl_model.h); else a ring (2(n-1)/n of the bytes through the slowest hop) plus the
// profile's collective latency;
// then Adam over the device's parameters (from the ledger's optimizer state).
StepExtras Simulation::training_extras() const {
  const auto& c = scenario_->config();
  const auto& hw = c.hardware;
  const auto& p = scenario_->params();
  const int64_t D = c.cluster.devices(), pp = scenario_->stages().stages, dpn = c.cluster.topology.devices_per_node;
  const double dense = static_cast<double>(p.total - p.routed_expert * c.model.moe.num_experts * c.model.num_moe_layers()) /
                       static_cast<double>(pp * c.parallel.attention_tensor_parallel);
  const double expert = static_cast<double>(p.routed_expert * c.model.num_moe_layers()) *
                        static_cast<double>(c.model.moe.num_experts + c.placement.redundant_experts) /
                        static_cast<double>(c.parallel.expert_parallel * c.parallel.expert_tensor_parallel * pp);
  auto ring = [&](double bytes, int64_t n, int64_t span_devices) {
    const bool inter = span_devices > dpn;
    if (!inter && hw.intra_node.fabric == "nvswitch") return nccl_time(NcclCollective::AllReduce, bytes, n, hw.intra_node.bandwidth_Bps, true);
    const auto& link = inter ? hw.inter_node : hw.intra_node;
    const double nic_share = inter ? static_cast<double>(std::max<int64_t>(1, c.cluster.topology.nics_per_node)) / static_cast<double>(dpn) : 1.0;
    return ring_allreduce_time(bytes, n, link.bandwidth_Bps * link.efficiency * nic_share, link.latency + hw.collective_latency);
  };
  const int64_t edp = D / (c.parallel.expert_parallel * c.parallel.expert_tensor_parallel * pp);
  StepExtras x;
  x.grad_sync = ring(dense * 2.0, c.parallel.attention_data_parallel, D / pp) + ring(expert * 2.0, edp, D / pp);
  const double params = hbm_[0].get(HbmCategory::OptimizerState) / kAdamStateBytesPerParam;
  OpCost adam;  // per parameter: about 10 FLOPs; reads weight, gradient, two moments, writes three (fp32)
  adam.flops = params * 10.0;
  adam.bytes = params * 28.0;
  adam.dtype = Dtype::Fp32;
  adam.kernels = 4;
  x.optimizer = scenario_->cost().roofline(adam, false);
  return x;
}

void Simulation::run() {
  if (engine_.phase() != Phase::Frozen) throw std::logic_error("simulation must be frozen before it runs");
  const auto t0 = std::chrono::steady_clock::now();
  const auto& c = scenario_->config();
  try {
    pass_ = run_layer_pass(*scenario_, threads_, progress_);
    std::vector<std::vector<ReceivedTokens>> received;
    for (const auto& ls : pass_.layer_stats) received.push_back(ls.busiest_received);
    MemoryInputs memory = scenario_->memory_inputs();
    memory.received = &received;
    hbm_ = device_memory(memory, scenario_->params(), scenario_->stages(), scenario_->placements());
    const StepExtras extras = c.workload.phase == WorkloadPhase::Training ? training_extras() : StepExtras{};
    build_step_graph(*scenario_, pass_, extras, graph_);
    graph_.scheduler.attach(engine_);
    engine_.run();
    graph_.scheduler.check_complete();
    finish_step();
  } catch (const std::overflow_error& e) {
    throw input_error(c.file, "", std::string(e.what()) + ": the step would last longer than the simulated clock holds (2^63 ps, about 106 days); check the sizes in the model and workload");
  }
  stats_.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stats_.events = engine_.events_executed();
  stats_.ops = graph_.scheduler.num_ops();
  ran_ = true;
}

void Simulation::finish_step() {
  SimTime stage_end_max, bubble;
  for (size_t i = 0; i < graph_.scheduler.num_ops(); ++i) stage_end_max = max(stage_end_max, graph_.scheduler.end(static_cast<int32_t>(i)));
  const int64_t stages = scenario_->stages().stages;
  // 1F1B pipeline bubble: (stages - 1) micro-batch slots of the slowest stage.
  if (stages > 1) bubble = SimTime::from_ps(stage_end_max.ps() / scenario_->config().workload.micro_batches) * (stages - 1);
  analysis_ = analyse_step(*scenario_, pass_, graph_, hbm_, stage_end_max + bubble, bubble);
}

}  // namespace moesim
