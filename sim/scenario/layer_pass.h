// The layer pass of one step: the cost of every op before the step graph is built. Dense pieces
// (attention with its tensor-parallel all-reduce, router, dense FFN, shared experts, LM head) are
// the same on every device; each MoE layer and micro-batch is planned from the frozen scenario:
// routing -> dispatch plan (capacity, drops, dedup) -> expert block per device -> dispatch and
// combine on the network (forward, and for training their gradients). Layers depend only on the
// frozen inputs, so they run on any thread in any order with the same results.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "sim/moe/dispatch_plan.h"
#include "sim/network/network_model.h"
#include "sim/scenario/layer_op_costs.h"
#include "sim/scenario/scenario.h"

namespace moesim {

// Per (MoE layer, micro-batch).
struct MoePass {
  std::vector<SimTime> experts;          // [device]
  SimTime dispatch, combine;             // forward collectives
  SimTime dispatch_bwd, combine_bwd;     // training: gradients of combine (like dispatch) and of dispatch
  CollectiveResult dispatch_net, combine_net;
  std::vector<int32_t> top_destination;  // [device] the device it sends most tokens to, -1 if none
};

// Per layer, accumulated over micro-batches.
struct MoeLayerStats {
  int64_t assignments = 0;
  int64_t dropped = 0;
  int64_t local_tokens = 0;
  int64_t routed_tokens = 0, token_nodes = 0, max_token_nodes = 0;
  int64_t capacity = 0;
  std::vector<int64_t> expert_load;      // [logical expert]
  std::vector<int64_t> expert_dropped;
  std::vector<int64_t> device_tokens;    // [device] routed copies processed (slot tokens)
  std::vector<ReceivedTokens> busiest_received;  // [device] rows and copies received, busiest micro-batch (HBM peak)
  double dispatch_bytes_intra = 0, dispatch_bytes_inter = 0;
  double combine_bytes_intra = 0, combine_bytes_inter = 0;
  double bytes_sent = 0, bytes_received = 0;  // device egress / ingress link bytes, dispatch + combine
  double max_link_utilization = 0;  // links and communication kernels' own limits
  double max_wire_utilization = 0;  // physical links only
  int64_t planned_as = -1;          // the layer whose plan this one replays (routing.planned_layers), -1: its own
};

// The ops that are the same on every device of every layer (sim/moe/layer_ops.h), costed per op.
struct DenseCosts {
  SimTime attention, attention_bwd;       // the attention block, with its tensor-parallel all-reduce
  SimTime moe_before, moe_after;          // MoE-local ops before dispatch (norm, router, top-k, permute,
                                          // quantisation) and after combine (unpermute, residual)
  SimTime dense_ffn, shared_expert, lm_head;
  // Eager launch only: what launching from the host adds to a MoE / dense layer (layer_op_costs.h).
  SimTime eager_moe_layer, eager_dense_layer;
  std::string shared_expert_source = "none";
  CostedOps attention_ops, moe_ops, shared_ops, dense_ffn_ops, lm_head_ops;  // for the report
  SimTime tp_allreduce;
};

// The layer's shape on one device, from the experiment.
LayerShape layer_shape(const ExperimentConfig& c, const CostContext& ctx);

struct LayerPassResult {
  DenseCosts dense;
  std::vector<std::vector<MoePass>> moe;      // [layer][micro-batch]
  std::vector<MoeLayerStats> layer_stats;     // [layer]
  std::map<std::string, int64_t> expert_sources;  // source -> expert blocks it costed
};

DenseCosts dense_costs(const Scenario& scenario);

// Plans MoE layers; one per thread (it holds scratch buffers and a network model).
class MoeLayerPlanner {
 public:
  explicit MoeLayerPlanner(const Scenario& scenario);
  // All micro-batches of MoE layer `layer`: fills passes[micro-batch] and the layer's stats.
  // replays: the MoE layers it stands for (routing.planned_layers), counted in expert_sources.
  void plan(int64_t layer, std::vector<MoePass>& passes, MoeLayerStats& stats, int64_t replays = 1);
  const std::map<std::string, int64_t>& expert_sources() const { return sources_; }
  // The dispatch plan of the last micro-batch planned (its traffic, for DeepEP's counted bytes).
  const DispatchResult& last_dispatch() const { return *last_; }

 private:
  // Device `device`'s routing of (layer, micro-batch) in batch_; empty outside the layer's stage.
  const RoutingBatch& fill_batch(int64_t layer, int64_t micro_batch, int64_t device, bool in_stage);
  void cost_collectives(const DispatchTraffic& traffic, MoePass& pass);
  CollectiveResult collective(const DispatchTraffic& traffic, A2aPhase phase, double bytes);

  const Scenario& sc_;
  DispatchPlanner planner_;
  NetworkModel net_;
  RoutingBatch batch_;  // the device being planned
  std::map<std::string, int64_t> sources_;
  const DispatchResult* last_ = nullptr;
};

// [model layer] the MoE layer whose plan it uses, -1 for a dense layer: itself, or with
// routing.planned_layers = N below the stage's MoE layers, stratified by device imbalance (max
// over mean of the assignments per EP rank in a pilot draw of the layer's own routing on its
// placement: what drives a layer's time): the stage's layers sorted by it are cut into N runs,
// and each run replays its layer nearest the run's mean imbalance (docs/planned-layers.md).
std::vector<int64_t> planned_layer(const Scenario& scenario);

LayerPassResult run_layer_pass(const Scenario& scenario, int threads, const std::function<void(int64_t, int64_t)>& progress);

}  // namespace moesim
