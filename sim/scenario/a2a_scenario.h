// `moesim comm a2a` as a scenario: one MoE layer of one micro-batch, the way DeepEP's benchmarks
// run theirs (tokens per GPU routed top-k, optionally group-limited; experts contiguous over each
// expert-parallel group). The request becomes an experiment (a one-layer model with the given
// hidden size, experts and top-k) and runs through the same Scenario and MoeLayerPlanner as
// `moesim run`: the same default topology and all-to-all choice, the same bytes per token, the same
// dispatch planner. DeepEP's bandwidth figure (sim/network/a2a_bench.h) is computed beside it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "sim/io/json_reader.h"
#include "sim/scenario/experiment_config.h"

namespace moesim {

struct CommA2aRequest {
  std::string hardware;                 // a bundled profile name or a path
  int64_t expert_parallel = 0;
  int64_t devices_per_node = 8;
  int64_t nodes = 0;                    // 0: enough for one expert-parallel group
  int64_t tokens_per_device = 0;
  int64_t hidden = 0, experts = 0, top_k = 0;
  int64_t groups = 1, topk_groups = 0;  // 0: all groups
  std::string algorithm = "auto";       // "auto" or a name in a2a_registry()
  std::string dispatch_dtype = "fp8", combine_dtype = "bf16";
  std::string distribution = "uniform"; // uniform | zipf | deepep-bench
  double zipf_exponent = 0;
  uint64_t seed = 1;
  std::string network_model = "bottleneck";
  double flow_tolerance = 1e-3;
  std::optional<std::string> topology;  // default: the hardware's (default_topology)
  std::optional<int64_t> nics_per_node, spines, nodes_per_leaf;
  std::optional<double> oversubscription;
  std::optional<std::string> collective_latency;  // e.g. "0 us"; default: Scenario::a2a_latency (the kernel's floor)
  std::optional<int64_t> sms;                     // DeepEP normal kernels' SMs (schedule.comm_compute_units); default 24
};

// The experiment the request stands for (its file name is "moesim comm a2a", for errors).
Json comm_a2a_experiment(const CommA2aRequest& request);

struct CommA2aResult {
  Json report;          // what `moesim comm a2a` prints
  double wall_s = 0;    // planning the layer: routing, dispatch plan, both collectives
  int64_t flows = 0, rate_updates = 0;
};

// Throws InputError ("moesim comm a2a: $.path: ...") for a request that is not a valid experiment.
CommA2aResult run_comm_a2a(const CommA2aRequest& request);

}  // namespace moesim
