// DeepEP's bandwidth figure for one MoE dispatch or combine: the bytes counted in the bottleneck
// domain per rank divided by the kernel time, where the counted units are (DeepEP's tests,
// tests/test_internode.py, test_intranode.py, test_low_latency.py):
//   low latency:               (token, expert) messages, own device included;
//   normal kernels, one node:  tokens received, own device included (NVLink);
//   normal kernels, across:    (token, destination node) pairs, own node included (RDMA);
//   others (pairwise):         tokens that cross the counted domain (not DeepEP's; for comparison).
// `moesim comm a2a` reports it beside the times that `moesim run` computes for the same traffic.
#pragma once
#include <cstdint>
#include <string>

#include "sim/network/a2a.h"
#include "sim/network/dispatch_traffic.h"

namespace moesim {

struct DeepEpCounted {
  double units_per_device = 0;   // counted units, summed over devices, / devices
  std::string domain;            // "nvlink" or "rdma"
  double nodes_per_token = 0;    // mean destination nodes per routed token
  double devices_per_token = 0;  // mean destination devices per routed token
};

// `tokens_per_device`: tokens each device routed; `expert_parallel`: the EP group size (one-node
// groups are counted on NVLink).
DeepEpCounted deepep_counted_units(const DispatchTraffic& traffic, DeepEpCount count, int64_t expert_parallel, int64_t tokens_per_device);

// GB/s as DeepEP prints it: counted bytes per device / seconds / 1e9 (0 for a zero duration).
double deepep_GBps(const DeepEpCounted& counted, double bytes_per_unit, double seconds);

}  // namespace moesim
