// The made-up device of the network tests, whose closed-form answers are easy to check by hand:
// 100 GB/s scale-up per direction with 2 us latency, 400 Gb/s (50 GB/s) NICs with 4 us latency,
// all efficiencies 1. And the flows of hand-made traffic, built as the all-to-all algorithms
// build theirs.
#pragma once
#include <vector>

#include "sim/hardware/hardware_profile.h"
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

}  // namespace moesim::test
