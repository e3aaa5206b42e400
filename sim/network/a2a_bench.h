// One MoE dispatch + combine measured the way DeepEP's tests measure theirs: every device routes
// its tokens (a caller-supplied router: sampled top-k, group-limited or not), E experts are placed
// contiguously over each expert-parallel group (groups are contiguous devices), the traffic is
// deduplicated per device and per node, and an all-to-all algorithm runs it on the topology under
// a network model. Bandwidth is reported as DeepEP defines it: the bytes counted in the bottleneck
// domain per rank (NVLink: tokens received, own included, for one-node groups; RDMA: (token,
// destination node) pairs, own node included; low latency: (token, expert) messages) divided by
// the kernel time. Used by `moesim comm a2a` and by the validation tests.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sim/network/dispatch_traffic.h"
#include "sim/network/network_model.h"

namespace moesim {

struct A2aBenchConfig {
  int64_t expert_parallel = 8;
  int64_t tokens_per_device = 4096;
  int64_t experts = 256;
  int64_t top_k = 8;
  std::string algorithm = "deepep-normal";  // a name in a2a_registry()
  NetworkModelKind network = NetworkModelKind::Bottleneck;
  FlowModelOptions flow;
  double dispatch_bytes = 0;          // moved per token copy (per message in low-latency mode)
  double combine_bytes = 0;
  double dispatch_counted_bytes = 0;  // DeepEP's bandwidth numerator per token copy / message
  double combine_counted_bytes = 0;
  SimTime fixed_latency;              // software latency of one collective
};

// Writes tokens x top_k expert ids (token-major) for `device` into `experts`.
using TokenRouter = std::function<void(int64_t device, int64_t tokens, std::vector<int32_t>& experts)>;

struct A2aPhaseResult {
  CollectiveResult net;
  double counted_bytes_per_device = 0;
  double GBps = 0;                    // counted bytes per device / duration
  double model_seconds = 0;           // wall time of building the flows and running the model
};

struct A2aBenchResult {
  A2aPhaseResult dispatch, combine;
  std::string counted_domain;         // "nvlink" or "rdma"
  double nodes_per_token = 0;         // mean destination nodes per routed token
  double devices_per_token = 0;
  double routing_seconds = 0;         // wall time of routing and building the traffic
};

// The routing of DeepEP's benchmarks (tests/test_internode.py, test_intranode.py,
// test_low_latency.py): every (token, expert) gets an i.i.d. random score, groups (contiguous
// experts) are ranked by their best score, the top `topk_groups` kept, and the top_k experts taken
// among them. (DeepEP's scores are |N(0,1)| + 1; any i.i.d. continuous score ranks the same way.)
// Without groups (groups == 1) this is a uniform top-k.
TokenRouter deepep_bench_router(int64_t experts, int64_t top_k, int64_t groups, int64_t topk_groups, uint64_t seed);

DispatchTraffic route_traffic(const Topology& topo, const A2aBenchConfig& cfg, const TokenRouter& router);
A2aBenchResult run_a2a_bench(const Topology& topo, const A2aBenchConfig& cfg, const TokenRouter& router);

}  // namespace moesim
