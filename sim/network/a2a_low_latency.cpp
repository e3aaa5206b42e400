// DeepEP's low-latency kernels (decode) as published with pure RDMA: every (token, expert) pair is
// its own RDMA message from the token's GPU to the expert's GPU, NIC to NIC even inside a node (no
// NVLink forwarding, no deduplication per device); messages to the GPU itself are local copies
// and not network traffic. Combine sends each expert's output back the same way. Bytes per message
// come from the caller (DeepEP: hidden FP8 values + one fp32 scale per 128 + 16 bytes of header
// for dispatch, hidden BF16 for combine). Source: DeepEP README, "Low-latency kernels with pure
// RDMA", commit 3b1045d (2025-04-22) and tests/test_low_latency.py there; DeepEP later (#173,
// 2025-06) routes intranode messages over NVLink, which this algorithm does not model.
#include "sim/network/a2a.h"

namespace moesim {

FlowSet a2a_low_latency(const A2aInput& in) {
  const Topology& topo = *in.topology;
  const DispatchTraffic& tr = *in.traffic;
  FlowSet set(topo);
  const bool back = in.phase == A2aPhase::Combine;
  for (int64_t s = 0; s < tr.devices; ++s)
    for (const auto* e = tr.device_begin(s); e != tr.device_end(s); ++e) {
      if (e->dst == s || e->messages == 0) continue;
      const double bytes = static_cast<double>(e->messages) * in.bytes_per_token;
      if (back) set.add(topo.scale_out_route(e->dst, s), e->dst, s, bytes);
      else set.add(topo.scale_out_route(s, e->dst), s, e->dst, bytes);
    }
  return set;
}

}  // namespace moesim
