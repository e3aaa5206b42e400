// The frozen inputs of one simulated step, built once from an experiment and read-only from then
// on: parameter counts, pipeline stages, the topology, the resolved all-to-all algorithm and its
// bytes per unit, the device cost model, the routing source and each MoE layer's placement.
// `moesim run` (Simulation) and `moesim comm a2a` both build one, so both resolve defaults,
// algorithms and bytes the same way.
#pragma once
#include <memory>
#include <vector>

#include "sim/hardware/device_cost.h"
#include "sim/moe/layer_costs.h"
#include "sim/moe/memory_model.h"
#include "sim/moe/param_count.h"
#include "sim/moe/placement.h"
#include "sim/moe/routing_source.h"
#include "sim/network/a2a.h"
#include "sim/network/a2a_wire.h"
#include "sim/network/topology.h"
#include "sim/scenario/experiment_config.h"

namespace moesim {

class Scenario {
 public:
  // Throws InputError naming the experiment file and the JSON path for inputs that cannot be
  // built (a backend without a table, a placement the policy refuses, a bad routing file).
  // setup_threads > 1: the cost model (its calibration tables read) is built on a second thread
  // beside the routing source and placements; the same scenario and the same first error.
  explicit Scenario(ExperimentConfig config, int setup_threads = 1);
  Scenario(const Scenario&) = delete;
  Scenario& operator=(const Scenario&) = delete;

  void freeze() { topology_.freeze(); }

  const ExperimentConfig& config() const { return cfg_; }
  const ParamCount& params() const { return params_; }
  const StageLayout& stages() const { return stages_; }
  const Topology& topology() const { return topology_; }
  const A2aRegistry::Entry& a2a() const { return *a2a_; }
  const A2aUnitBytes& a2a_bytes() const { return a2a_bytes_; }
  // The launch of the all-to-all's DeepEP kernel (comm_kernel.h), or nullptr for the others (NCCL-
  // and HCCL-style all-to-all put no kernel limits on their flows).
  const CommKernelLaunch* a2a_kernel() const { return is_deepep(a2a_->traits.kernel) ? &a2a_kernel_ : nullptr; }
  // The fixed time of one dispatch or combine: moe.all_to_all_latency if set, else the kernel's
  // floor (DeepEP), else the profile's collective_latency.
  SimTime a2a_latency(A2aPhase phase) const;
  const DeviceCostModel& cost() const { return *cost_; }
  const CostContext& cost_context() const { return cost_ctx_; }
  const RoutingSource& routing() const { return *routing_; }
  const LayerPlacement& placement(int64_t layer) const { return (*placements_)[static_cast<size_t>(layer)]; }
  const std::vector<LayerPlacement>& placements() const { return *placements_; }
  MemoryInputs memory_inputs() const;

 private:
  void build_cost_model();
  void build_placements();

  ExperimentConfig cfg_;
  ParamCount params_;
  StageLayout stages_;
  Topology topology_;
  const A2aRegistry::Entry* a2a_ = nullptr;
  A2aUnitBytes a2a_bytes_;
  CommKernelLaunch a2a_kernel_;
  std::unique_ptr<DeviceCostModel> cost_;
  CostContext cost_ctx_;
  std::unique_ptr<RoutingSource> routing_;
  std::shared_ptr<const std::vector<LayerPlacement>> placements_;  // [model layer]; shared by sweep points (a pure function of its key)
};

}  // namespace moesim
