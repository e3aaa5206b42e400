// One simulated step of an experiment, as an object (many can run in one process). Phases:
// build (resolve the experiment, build topology, placements, routing source), freeze (compute
// routes; inputs read-only from here), run (per layer: routing -> dispatch plan -> op costs;
// then the step's op graph runs on the event engine), report.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "sim/app/experiment_config.h"
#include "sim/engine/engine.h"
#include "sim/engine/stream_scheduler.h"
#include "sim/hardware/dense_gemm_table.h"
#include "sim/hardware/expert_cost_model.h"
#include "sim/hardware/roofline.h"
#include "sim/moe/hbm_ledger.h"
#include "sim/moe/layer_costs.h"
#include "sim/moe/memory_model.h"
#include "sim/moe/param_count.h"
#include "sim/moe/placement.h"
#include "sim/moe/routing_source.h"
#include "sim/network/a2a.h"
#include "sim/network/network_model.h"
#include "sim/network/topology.h"

namespace moesim {

enum class OpKind : uint8_t { Attention, DenseFfn, SharedExpert, Experts, Dispatch, Combine, LmHead, GradSync, Optimizer };
const char* op_kind_name(OpKind k);
bool is_comm(OpKind k);

struct OpInfo {
  int32_t device = -1;       // -1 for a collective
  int32_t stage = 0;
  int16_t layer = -1;
  int16_t micro_batch = 0;
  OpKind kind = OpKind::Attention;
  bool backward = false;
};

// Per (MoE layer, micro-batch) results of the layer pass.
struct MoePass {
  std::vector<SimTime> experts;          // [device]
  SimTime dispatch, combine;             // forward collectives
  SimTime dispatch_bwd, combine_bwd;     // training: gradients of combine (like dispatch) and of dispatch
  CollectiveResult dispatch_net, combine_net;
  std::vector<int32_t> top_destination;  // [device] the device it sends most tokens to, -1 if none
};

// Per layer accumulations over micro-batches.
struct MoeLayerStats {
  int64_t assignments = 0;
  int64_t dropped = 0;
  int64_t local_tokens = 0;
  int64_t routed_tokens = 0, token_nodes = 0, max_token_nodes = 0;
  int64_t capacity = 0;
  std::vector<int64_t> expert_load;      // [logical expert]
  std::vector<int64_t> expert_dropped;
  std::vector<int64_t> device_tokens;    // [device] routed copies processed (slot tokens)
  double dispatch_bytes_intra = 0, dispatch_bytes_inter = 0;
  double combine_bytes_intra = 0, combine_bytes_inter = 0;
  double bytes_sent = 0, bytes_received = 0;  // device egress / ingress link bytes, dispatch + combine
  double max_link_utilization = 0;
};

struct RunStats {
  double wall_seconds = 0;
  uint64_t events = 0;
  size_t ops = 0;
};

class Simulation {
 public:
  explicit Simulation(ExperimentConfig config);
  void freeze();
  void run();
  Json report() const;
  Json timeline() const;
  const RunStats& stats() const { return stats_; }
  const ExperimentConfig& config() const { return cfg_; }
  // Called after each layer of the routing/cost pass with (layers done, layers); for progress.
  void set_progress(std::function<void(int64_t, int64_t)> callback) { progress_ = std::move(callback); }
  // Threads for the per-layer routing, dispatch planning and all-to-all pass (default 1); the
  // results do not depend on it.
  void set_threads(int threads) { threads_ = std::max(1, threads); }

 private:
  void layer_pass();
  void build_step_graph();
  SimTime compute_time(const OpCost& op, bool moe_layer) const;
  SimTime expert_time(const std::vector<int64_t>& slot_tokens, std::map<std::string, int64_t>& sources) const;
  SimTime shared_expert_time(int64_t tokens);  // sets shared_source_
  double overlap_stretch() const;
  SimTime grad_sync_time() const;
  int32_t add(const OpInfo& info, const std::vector<int32_t>& streams, SimTime duration, const std::vector<int32_t>& deps);

  ExperimentConfig cfg_;
  ParamCount params_;
  StageLayout stages_;
  Topology topo_;
  RooflineModel roofline_;
  std::string a2a_algorithm_;                       // resolved all-to-all algorithm
  std::unique_ptr<ExpertCostModel> expert_model_;   // null: roofline only
  bool expert_model_strict_ = false;                // explicit backend: errors are errors
  std::map<std::string, int64_t> expert_sources_;   // source -> blocks costed by it
  std::string shared_source_;                        // what costed the shared experts
  DenseGemmTable dense_gemms_;                       // the device's measured dense GEMMs (empty: none, or roofline asked)
  CostContext cost_;
  std::unique_ptr<RoutingSource> routing_;
  std::vector<LayerPlacement> placements_;   // [model layer]
  Engine engine_;
  StreamScheduler sched_;
  std::vector<int32_t> compute_stream_, comm_stream_;  // [device]
  std::vector<OpInfo> op_info_;

  // Layer-pass results.
  std::vector<std::vector<MoePass>> moe_;    // [layer][micro-batch]
  std::vector<MoeLayerStats> layer_stats_;      // [layer]
  SimTime attention_, attention_bwd_, dense_, shared_, router_, lm_head_;
  SimTime grad_sync_, optimizer_;
  std::vector<HbmLedger> hbm_;
  SimTime step_time_;
  SimTime pipeline_bubble_;
  RunStats stats_;
  bool ran_ = false;
  std::function<void(int64_t, int64_t)> progress_;
  int threads_ = 1;
};

}  // namespace moesim
