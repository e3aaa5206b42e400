// The made-up device of the network tests, whose closed-form answers are easy to check by hand:
// 100 GB/s scale-up per direction with 2 us latency, 400 Gb/s (50 GB/s) NICs with 4 us latency,
// all efficiencies 1. And the flows of hand-made traffic, built as the all-to-all algorithms
// build theirs; and an exact comparison of two collectives' results.
#pragma once
#include <vector>

#include <catch2/catch.hpp>

#include "sim/hardware/hardware_profile.h"
#include "sim/network/bottleneck_model.h"
#include "sim/network/flow_set.h"

namespace moesim::test {

inline HardwareProfile made_up_hw() {
  HardwareProfile h;
  h.intra_node = {"nvswitch", 100e9, SimTime::from_us(2), 1.0};
  h.inter_node = {"infiniband", 50e9, SimTime::from_us(4), 1.0};
  return h;
}

// `bytes` from device src to device dst.
struct Send {
  int32_t src = 0;
  int32_t dst = 0;
  double bytes = 0;
};

// Each send on the topology's fewest-hop route, as a2a_pairwise builds its flows
// (sim/network/a2a_pairwise.cpp).
inline FlowSet fewest_hop_flows(const Topology& t, const std::vector<Send>& sends) {
  FlowSet f(t);
  for (const auto& s : sends) f.add(t.route(s.src, s.dst), s.src, s.dst, s.bytes);
  return f;
}

// Every field of two results, compared exactly (doubles bit for bit).
inline void check_same_result(const CollectiveResult& a, const CollectiveResult& b) {
  CHECK(a.duration == b.duration);
  CHECK(a.fixed_latency == b.fixed_latency);
  CHECK(a.bytes_total == b.bytes_total);
  CHECK(a.bytes_intra_node == b.bytes_intra_node);
  CHECK(a.bytes_inter_node == b.bytes_inter_node);
  CHECK(a.bytes_staged == b.bytes_staged);
  CHECK(a.bytes_egress == b.bytes_egress);
  CHECK(a.bytes_ingress == b.bytes_ingress);
  CHECK(a.max_link_utilization == b.max_link_utilization);
  CHECK(a.bottleneck_link == b.bottleneck_link);
  CHECK(a.bottleneck_link_bytes == b.bottleneck_link_bytes);
  CHECK(a.bottleneck_name == b.bottleneck_name);
  CHECK(a.bottleneck_is_kernel == b.bottleneck_is_kernel);
  CHECK(a.max_wire_utilization == b.max_wire_utilization);
  CHECK(a.flows == b.flows);
  CHECK(a.rate_updates == b.rate_updates);
}

}  // namespace moesim::test
