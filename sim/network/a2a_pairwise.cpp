// NCCL-style pairwise all-to-allv (ncclSend/ncclRecv to every peer inside one group): every source
// sends each destination device its deduplicated tokens on the fewest-hop route between them,
// NVLink inside a node and the NIC across nodes; a device's own tokens stay put. This is what
// moesim modelled before the hierarchical algorithms. Source: NCCL documentation, "Point-to-point
// communication: all-to-all" (docs.nvidia.com/deeplearning/nccl/user-guide/docs/usage/p2p.html).
#include "sim/network/a2a.h"

namespace moesim {

void device_pair_flows(const A2aInput& in, bool count_messages, Route (Topology::*route)(int64_t, int64_t) const, FlowSink& set) {
  const Topology& topo = *in.topology;
  const DispatchTraffic& tr = *in.traffic;
  const bool back = in.phase == A2aPhase::Combine;
  for (int64_t s = 0; s < tr.devices; ++s)
    for (const auto* e = tr.device_begin(s); e != tr.device_end(s); ++e) {
      const int64_t count = count_messages ? e->messages : e->tokens;
      if (e->dst == s || count == 0) continue;
      const double bytes = static_cast<double>(count) * in.bytes_per_token;
      if (back) set.add((topo.*route)(e->dst, s), e->dst, s, bytes);
      else set.add((topo.*route)(s, e->dst), s, e->dst, bytes);
    }
}

void emit_pairwise(const A2aInput& in, FlowSink& out) { device_pair_flows(in, false, &Topology::route, out); }

FlowSet collect_flows(A2aEmitter emit, const A2aInput& in) {
  FlowSet set(*in.topology);
  emit(in, set);
  return set;
}

FlowSet a2a_pairwise(const A2aInput& in) { return collect_flows(&emit_pairwise, in); }
FlowSet a2a_hierarchical(const A2aInput& in) { return collect_flows(&emit_hierarchical, in); }
FlowSet a2a_low_latency(const A2aInput& in) { return collect_flows(&emit_low_latency, in); }
FlowSet a2a_low_latency_rdma(const A2aInput& in) { return collect_flows(&emit_low_latency_rdma, in); }

}  // namespace moesim
