// MoE all-to-all algorithms: each turns one micro-batch's DispatchTraffic into the flows it puts on
// the topology (with their routes), for dispatch or for combine (the reverse). Registered with a
// description and a source (`moesim list a2a`):
//   pairwise            NCCL-style all-to-allv: each device pair's tokens on its own route.
//   deepep-normal       DeepEP normal kernels: RDMA once per destination node to the GPU with the
//                       same local index, then NVLink to the destination GPUs (a2a_hierarchical.cpp).
//   hccl-hierarchical   the same two-level scheme over RoCE and an HCCS mesh (Ascend).
//   deepep-low-latency  DeepEP low-latency kernels: one message per (token, expert), over NVLink to
//                       peers in the device's scale-up domain and RDMA to the others.
//   deepep-low-latency-rdma  the same kernels as first published: every message NIC to NIC.
// Bytes per token (or per message) come from the caller: FP8 dispatch with its scales, BF16 combine.
// The DeepEP algorithms also put their kernels' limits on the flows (comm_kernel.h) when the caller
// says how the kernel is launched.
#pragma once
#include <functional>

#include "sim/base/registry.h"
#include "sim/network/comm_kernel.h"
#include "sim/network/dispatch_traffic.h"
#include "sim/network/flow_set.h"

namespace moesim {

struct A2aInput {
  const Topology* topology = nullptr;
  const DispatchTraffic* traffic = nullptr;
  A2aPhase phase = A2aPhase::Dispatch;
  double bytes_per_token = 0;  // one token copy (normal, pairwise) or one (token, expert) message (low latency)
  const CommKernelLaunch* kernel = nullptr;  // DeepEP algorithms: their kernel limits; nullptr: wires only
};

// An algorithm adds its flows, in a fixed order, to a sink: a FlowSet that keeps them, or the
// bottleneck model's streamed link loads (sim/network/flow_sink.h).
using A2aEmitter = void (*)(const A2aInput&, FlowSink&);

// What an algorithm moves and what DeepEP's benchmarks count for it, asked by callers instead of
// its name (sim/network/a2a_wire.h turns these into bytes per unit).
enum class A2aUnit { Token, Message };  // a token copy per destination, or one (token, expert) message
// DeepEP's bandwidth numerator (a2a_bench.h): (token, expert) messages; tokens received per device
// (NVLink, one-node groups) or per destination node (RDMA); or, for algorithms DeepEP has no figure
// for, the tokens that cross the counted domain.
enum class DeepEpCount { Messages, DeviceOrNodeTokens, CrossingTokens };

struct A2aTraits {
  A2aUnit unit = A2aUnit::Token;
  double header_bytes = 0;         // per unit on the wire, beyond the hidden vector (low latency: 16)
  bool carries_topk_meta = false;  // dispatch also carries int32 expert ids + fp32 weights per top-k entry
  DeepEpCount deepep_count = DeepEpCount::CrossingTokens;
  A2aKernel kernel = A2aKernel::None;  // whose limits and fixed time (comm_kernel.h) apply
  bool rdma_only = false;              // every message NIC to NIC, even to peers in the scale-up domain
};

using A2aRegistry = Registry<A2aEmitter, A2aTraits>;
const A2aRegistry& a2a_registry();

// One flow per (source, destination device) pair, `count` tokens or messages each, on `route`
// (reversed for combine); a device's own share stays put.
void device_pair_flows(const A2aInput& in, bool count_messages, Route (Topology::*route)(int64_t, int64_t) const, FlowSink& out);

// The algorithms, adding their flows to `out` (the registry's emitters).
void emit_pairwise(const A2aInput& in, FlowSink& out);
void emit_hierarchical(const A2aInput& in, FlowSink& out);
void emit_low_latency(const A2aInput& in, FlowSink& out);       // NVLink inside the scale-up domain, RDMA across
void emit_low_latency_rdma(const A2aInput& in, FlowSink& out);  // NIC to NIC for every peer

// The flows an emitter adds, kept in a FlowSet on in.topology.
FlowSet collect_flows(A2aEmitter emit, const A2aInput& in);
// The algorithms' flows, kept.
FlowSet a2a_pairwise(const A2aInput& in);
FlowSet a2a_hierarchical(const A2aInput& in);
FlowSet a2a_low_latency(const A2aInput& in);
FlowSet a2a_low_latency_rdma(const A2aInput& in);

}  // namespace moesim
