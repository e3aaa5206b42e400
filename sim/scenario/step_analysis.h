// What a finished step means, computed once from the executed op graph, the layer pass and the
// HBM ledgers: the critical device (the most compute-busy device of each pipeline stage; the
// step's is that of the stage that ends last), each layer's time on it by op kind, the
// communication it leaves exposed (collective time during which the critical device computes
// nothing), load balance, all-to-all bytes, drops, throughput, HBM fit, cost per million tokens
// and the invariants (tokens conserved, bytes sent = received, no link above 100%, HBM never
// negative). report.cpp and timeline.cpp only serialise it. Times are in picoseconds.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "sim/moe/hbm_ledger.h"
#include "sim/moe/serving_memory.h"
#include "sim/scenario/layer_pass.h"
#include "sim/scenario/step_graph.h"

namespace moesim {

// Time by op kind on the critical device (ps); collectives count whole, `exposed` their uncovered part.
struct OpKindTimes {
  int64_t attention = 0, moe_local = 0, dense_ffn = 0, shared_expert = 0, experts = 0, dispatch = 0, combine = 0, exposed = 0;
};

struct LayerAnalysis {
  OpKindTimes times;
  int64_t experts_max_device_ps = 0;   // the largest expert time of any device
  // MoE layers only:
  double expert_load_max_over_mean = 0, device_load_max_over_mean = 0;
  std::vector<int64_t> device_load;    // routed copies each device of the layer's stage processed
};

struct StepAnalysis {
  SimTime step_time, pipeline_bubble;
  int64_t critical_device = 0, critical_stage = 0;
  std::vector<LayerAnalysis> layers;   // [layer]
  OpKindTimes total;                   // the critical stage's layers
  int64_t other_compute_ps = 0;        // ops outside layers (LM head, optimizer) of the critical stage
  int64_t other_exposed_ps = 0;        // gradient sync left exposed
  // Totals over MoE layers.
  int64_t assignments = 0, dropped = 0, moe_layers = 0;
  double dispatch_bytes_intra = 0, dispatch_bytes_inter = 0, combine_bytes_intra = 0, combine_bytes_inter = 0;
  double load_max_over_mean_sum = 0, device_load_max_over_mean_sum = 0, max_link_utilization = 0, max_wire_utilization = 0;
  bool tokens_conserved = true, bytes_sent_equal_received = true, hbm_non_negative = true;
  // Throughput, memory, cost.
  double tokens_per_step = 0, tokens_per_s = 0;
  double hbm_max_bytes = 0;
  int64_t hbm_max_device = 0;
  bool hbm_fits = true;
  // The serving engine's pools (experiment `runtime`), on the device with the fewest KV tokens.
  std::optional<ServingMemory> serving;
  int64_t serving_device = 0;
};

StepAnalysis analyse_step(const Scenario& scenario, const LayerPassResult& pass, const StepGraph& graph, const std::vector<HbmLedger>& hbm,
                          SimTime step_time, SimTime pipeline_bubble);

}  // namespace moesim
