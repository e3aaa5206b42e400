// DeepEP's low-latency kernels (decode): every (token, expert) pair is its own message from the
// token's GPU to the expert's GPU, with no forwarding and no deduplication per device. Since DeepEP
// PR #173 (2025-06) a message to a peer in the same scale-up domain (an NVLink node, or a rack-scale
// NVLink domain) is written over NVLink and only the others go NIC to NIC; a2a_low_latency_rdma keeps
// the kernels as first published, every message through the NIC even inside a node. Combine sends
// each expert's output back the same way. Bytes per message come from the caller (DeepEP: hidden
// FP8 values + one fp32 scale per 128 + 16 bytes of header for dispatch, hidden BF16 for combine).
//
// Kernel limits (comm_kernel.h), when the caller gives the launch: all of a device's messages, its
// own included (a local copy by the same warps), pass one kernel link of the sending device.
// Messages to the device itself are no network traffic.
// Sources: DeepEP README (low-latency kernels, with the pure-RDMA table of commit 3b1045d,
// 2025-04-22), tests/test_low_latency.py and csrc/kernels/internode_ll.cu.
#include <vector>

#include "sim/network/a2a.h"

namespace moesim {
namespace {

void low_latency_flows(const A2aInput& in, bool nvlink_peers, FlowSink& set) {
  const Topology& topo = *in.topology;
  const DispatchTraffic& tr = *in.traffic;
  // One flow per (source, destination) pair; a scale-out path has at most 7 links and the kernel's.
  set.reserve(tr.to_device.size(), tr.to_device.size() * 8);
  const bool back = in.phase == A2aPhase::Combine;
  std::vector<int32_t> sm_link;
  if (in.kernel) {
    sm_link.assign(static_cast<size_t>(tr.devices), -1);
    for (int64_t d = 0; d < tr.devices; ++d)
      sm_link[static_cast<size_t>(d)] = set.add_kernel_link("low-latency kernel", d, d, low_latency_device_Bps(*in.kernel, in.phase, topo.scale_up_Bps(d)));
  }
  for (int64_t s = 0; s < tr.devices; ++s)
    for (const auto* e = tr.device_begin(s); e != tr.device_end(s); ++e) {
      if (e->messages == 0) continue;
      const int64_t from = back ? e->dst : s, to = back ? s : e->dst;
      const int32_t sms = in.kernel ? sm_link[static_cast<size_t>(from)] : -1;
      const double bytes = static_cast<double>(e->messages) * in.bytes_per_token;
      if (from == to) {
        if (sms >= 0) set.add(Route(), from, to, bytes, sms);
        continue;
      }
      const bool nvlink = nvlink_peers && topo.same_scale_up_domain(from, to);
      set.add(nvlink ? topo.route(from, to) : topo.scale_out_route(from, to), from, to, bytes, sms);
    }
}

}  // namespace

void emit_low_latency(const A2aInput& in, FlowSink& out) { low_latency_flows(in, true, out); }

void emit_low_latency_rdma(const A2aInput& in, FlowSink& out) { low_latency_flows(in, false, out); }

}  // namespace moesim
