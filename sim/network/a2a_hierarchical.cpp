// Two-level MoE all-to-all as DeepEP's normal (training / prefill) kernels do it: a token crosses
// RDMA once per destination NODE, to the GPU there with the same local index as its source (same
// rail), which forwards it over NVLink to each GPU of that node holding any of its experts. Tokens
// for the source's own node skip RDMA and are forwarded by the source itself. Combine is the
// reverse: each GPU returns its partial result over NVLink to the forwarder, which reduces per
// token and sends one RDMA transfer per (token, source node). Node-limited routing (tokens reach at
// most M nodes) lives in the routing, i.e. in the DispatchTraffic.
//
// Buffered copies: DeepEP's kernels pass the tokens a GPU keeps (its own, or those it forwards to
// itself) through the same NVLink-buffer channels and warps as those it sends to peers, and its
// published NVLink bandwidth counts them (tests/test_intranode.py: recv_x of a rank includes its
// own tokens). They are charged to the device's staging route (its scale-up port), so the
// kernel's copy throughput, not only the wire, bounds them; docs/comm-validation.md shows the
// effect (without it the intranode row would read 16% high).
//
// The RDMA and NVLink legs run concurrently (DeepEP pipelines chunks through its buffers); a
// forwarding leg is not held back by the leg that feeds it. Sources: DeepEP README (normal kernels
// "with NVLink and RDMA forwarding") and docs/legacy.md; DeepSeek-V3 report arXiv:2412.19437 Sec.
// 3.2.2. The same scheme over RoCE and an HCCS mesh is registered as hccl-hierarchical.
//
// Kernel limits (comm_kernel.h), when the caller gives the launch: every NVLink leg (and staging
// copy) of a (forwarder, peer) pair passes that pair's warps, and every RDMA leg its source's
// RDMA-sender warps (combine: the same warps, the other way).
#include <vector>

#include "sim/network/a2a.h"

namespace moesim {

void emit_hierarchical(const A2aInput& in, FlowSink& set) {
  const Topology& topo = *in.topology;
  const DispatchTraffic& tr = *in.traffic;
  const int64_t G = tr.devices_per_node, D = tr.devices;
  const bool back = in.phase == A2aPhase::Combine;
  const bool across_nodes = in.kernel && normal_across_nodes(*in.kernel, G);
  // RDMA legs, one per (source, destination node) other than its own.
  for (int64_t g = 0; g < D; ++g) {
    const int64_t local = g % G;
    int32_t sender = -1;
    for (const auto* e = tr.node_begin(g); e != tr.node_end(g); ++e) {
      if (e->node == g / G || e->tokens == 0) continue;
      if (in.kernel && sender < 0) sender = set.add_kernel_link("RDMA-sender warps", g, g, normal_rdma_sender_Bps(*in.kernel));
      const int64_t f = e->node * G + local;
      const double bytes = static_cast<double>(e->tokens) * in.bytes_per_token;
      if (back) set.add(topo.scale_out_route(f, g), f, g, bytes, sender);
      else set.add(topo.scale_out_route(g, f), g, f, bytes, sender);
    }
  }
  // NVLink legs: what forwarder f sends to device j of its node, summed over the sources that f
  // serves (those with f's local index, in every node including its own).
  std::vector<int64_t> forwarded(static_cast<size_t>(D * G), 0);
  for (int64_t g = 0; g < D; ++g)
    for (const auto* e = tr.device_begin(g); e != tr.device_end(g); ++e) {
      const int64_t f = (e->dst / G) * G + g % G;
      forwarded[static_cast<size_t>(f * G + e->dst % G)] += e->tokens;
    }
  for (int64_t f = 0; f < D; ++f)
    for (int64_t i = 0; i < G; ++i) {
      const int64_t n = forwarded[static_cast<size_t>(f * G + i)];
      if (n == 0) continue;
      const int64_t j = (f / G) * G + i;
      const double bytes = static_cast<double>(n) * in.bytes_per_token;
      const int32_t warps = in.kernel ? set.add_kernel_link(across_nodes ? "forwarder warps" : "copy warps", f, j,
                                                            normal_pair_Bps(*in.kernel, G))
                                      : -1;
      if (j == f) set.add(topo.staging_route(f), f, f, bytes, warps);
      else if (back) set.add(topo.route(j, f), j, f, bytes, warps);
      else set.add(topo.route(f, j), f, j, bytes, warps);
    }
}

}  // namespace moesim
