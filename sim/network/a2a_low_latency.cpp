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

FlowSet a2a_low_latency(const A2aInput& in) { return device_pair_flows(in, true, &Topology::scale_out_route); }

}  // namespace moesim
