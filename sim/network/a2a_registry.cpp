#include "sim/network/a2a.h"

namespace moesim {
namespace {

A2aRegistry build_registry() {
  // Low-latency messages carry DeepEP's 16-byte header (an int4 of source index and counts:
  // csrc/kernels/internode_ll.cu, num_bytes_per_msg = sizeof(int4) + hidden bytes + scales) and no
  // top-k metadata; the normal kernels and NCCL-style all-to-all send the top-k ids and weights.
  const A2aTraits nccl{A2aUnit::Token, 0.0, true, DeepEpCount::CrossingTokens, A2aKernel::Nccl};
  const A2aTraits normal{A2aUnit::Token, 0.0, true, DeepEpCount::DeviceOrNodeTokens, A2aKernel::DeepEpNormal};
  const A2aTraits hccl{A2aUnit::Token, 0.0, true, DeepEpCount::DeviceOrNodeTokens, A2aKernel::None};
  const A2aTraits low_latency{A2aUnit::Message, 16.0, false, DeepEpCount::Messages, A2aKernel::DeepEpLowLatency};
  A2aTraits low_latency_rdma = low_latency;
  low_latency_rdma.rdma_only = true;
  A2aRegistry r;
  r.add({"pairwise", "NCCL-style all-to-allv: each device pair's deduplicated tokens on its own fewest-hop route (NVLink in a node, NIC across)",
         "NCCL user guide, point-to-point all-to-all (docs.nvidia.com/deeplearning/nccl/user-guide/docs/usage/p2p.html)", &emit_pairwise, nccl});
  r.add({"deepep-normal",
         "DeepEP normal kernels: RDMA once per (token, destination node) to the same-local-index GPU, NVLink forwarding inside the node; "
         "combine reduces in the node then one RDMA transfer per (token, source node)",
         "DeepEP README and docs/legacy.md (github.com/deepseek-ai/DeepEP), normal kernels with NVLink and RDMA forwarding; DeepSeek-V3 "
         "report arXiv:2412.19437 Sec. 3.2.2",
         &emit_hierarchical, normal});
  r.add({"hccl-hierarchical",
         "the same two-level scheme on Ascend: RoCE once per (token, destination server), then the HCCS mesh inside it",
         "CANN ops-transformer MoeDistributeDispatch/Combine, Atlas A2 layered kernel (mc2/moe_distribute_dispatch, "
         "moe_distribute_dispatch_a2_layered.h); not validated against a measurement",
         &emit_hierarchical, hccl});
  r.add({"deepep-low-latency",
         "DeepEP low-latency kernels (decode): one message per (token, expert), over NVLink to peers in the same scale-up domain and RDMA "
         "to the others, no forwarding; limited by the SMs the kernel launches",
         "DeepEP README and tests/test_low_latency.py after PR #173 (2025-06, NVLink for intranode peers); csrc/kernels/internode_ll.cu",
         &emit_low_latency, low_latency});
  r.add({"deepep-low-latency-rdma",
         "DeepEP low-latency kernels as first published, pure RDMA: every (token, expert) message NIC to NIC, even inside a node",
         "DeepEP README at commit 3b1045d (2025-04-22), low-latency kernels with pure RDMA; tests/test_low_latency.py", &emit_low_latency_rdma,
         low_latency_rdma});
  return r;
}

}  // namespace

const A2aRegistry& a2a_registry() {
  static const A2aRegistry registry = build_registry();
  return registry;
}

}  // namespace moesim
