// What a communication kernel itself can move, beside what the wires can: DeepEP's kernels copy
// every token with warps of a fixed number of SMs, and each call has a fixed time of its own. The
// all-to-all algorithms (a2a.h) put these limits on their flows as kernel links (flow_set.h), so
// the network models share them as they share wires, and the report names a kernel link when it
// is the bottleneck.
//
// DeepEP normal kernels (csrc/kernels/intranode.cu, internode.cu, github.com/deepseek-ai/DeepEP):
// a call with S SMs runs S / 2 channels.
//   one node:    each channel has a sender SM and a receiver SM of 24 warps each, split evenly over
//                the EP group's G ranks: a (source, destination) pair is moved by (S / 2) x (24 / G)
//                warps (G = 8: 3 per channel);
//   across nodes: each channel has a forwarder SM with one warp per NVLink peer, so a (forwarder,
//                peer) pair is moved by S / 2 warps; the other SM's 7 RDMA-sender warps copy what a
//                GPU sends over RDMA: (S / 2) x 7 warps per GPU.
// One warp copies kWarpCopyBps. Combine is taken as the reverse of dispatch through the same warps.
//
// DeepEP low-latency kernels (csrc/kernels/internode_ll.cu): E expert slots on a device of N SMs
// launch ceil(E / ceil(E / N)) SMs; in dispatch the first top-k warps of an SM each send one
// (token, expert) message of the SM's token, so a device's messages (its own included) move at
// most (launched SMs) x min(top-k, 32) x kWarpCopyBps. Whatever the warps, the kernel's
// fine-grained stores move a device's messages at most at kLowLatencyShare[phase] of its scale-up
// bandwidth (NVLink); RDMA messages are bounded by the NIC before that.
//
// Sources of the constants (one figure each, not fitted per table; docs/comm-validation.md checks
// them against figures that were not used):
//   kWarpCopyBps: DeepEP's EP16 row on H800 (README, docs/legacy.md): 43 GB/s RDMA, which its
//     maintainers put at "above 140 GB/s" of NVLink (DeepEP issue #285); internode.cu forwards that
//     with 24 SMs = 12 channels x 8 peer warps: 140 GB/s / 96 warps = 1.46 GB/s per warp.
//   kLowLatencyShare: DeepEP's low-latency kernels on one 8 x H100 node (NVLink 450 GB/s), 7168
//     hidden, 256 experts, top-8: the slope of kernel time between 512 and 1,024 tokens, every
//     message counted, own included: dispatch 280 GB/s, combine 255 GB/s per GPU. Measured by NVIDIA
//     aiconfigurator (SGLang 0.5.12's DeepEP); reference rows, not copied here.
//   Floors: the same measurements at one token per GPU, less the NVLink route's 2 us: normal
//     dispatch 23.5 us; normal combine 22 us + 3.0 us per 1,024 hidden; low-latency dispatch
//     7.8 us + 0.42 us and combine 8.2 us + 0.40 us per 1,024 hidden.
#pragma once
#include <cstdint>

#include "sim/engine/sim_time.h"

namespace moesim {

// Whose kernel model applies to an all-to-all: none (wires and the profile's latency), NCCL's
// protocols (nccl_model.h), or DeepEP's kernels (this file).
enum class A2aKernel { None, Nccl, DeepEpNormal, DeepEpLowLatency };
inline bool is_deepep(A2aKernel k) { return k == A2aKernel::DeepEpNormal || k == A2aKernel::DeepEpLowLatency; }
enum class A2aPhase { Dispatch, Combine };

inline constexpr double kWarpCopyBps = 140e9 / 96.0;
inline constexpr double kLowLatencyShare[2] = {280.0 / 450.0, 255.0 / 450.0};  // [A2aPhase]
inline constexpr int64_t kDeepEpDefaultSms = 24;  // DeepEP's tests and tuning tables

// How a DeepEP kernel is launched: the sizes its grid and warps depend on.
struct CommKernelLaunch {
  int64_t sms = kDeepEpDefaultSms;  // normal kernels: SMs given (Buffer.set_num_sms); even, >= 2
  int64_t ranks = 8;                // the EP group's size: the kernel's ranks
  int64_t device_sms = 132;         // the device's SMs (the low-latency grid)
  int64_t experts = 0;              // expert slots of the EP group (the low-latency grid)
  int64_t top_k = 0;
};

// Whether the normal kernels of this launch are DeepEP's internode ones: the EP group spans more
// than one node of `devices_per_node`.
inline bool normal_across_nodes(const CommKernelLaunch& k, int64_t devices_per_node) { return k.ranks > devices_per_node; }
// Bytes/s one (source, destination) pair can move through a normal kernel: inside one node
// (intranode kernel: the warps split over the group's ranks), or one forwarder to one NVLink peer
// (internode kernel).
double normal_pair_Bps(const CommKernelLaunch& k, int64_t devices_per_node);
// Bytes/s one GPU's RDMA-sender warps can move (internode kernel).
double normal_rdma_sender_Bps(const CommKernelLaunch& k);
// SMs the low-latency kernel launches; bytes/s one device's messages can move, on a device whose
// scale-up (NVLink) bandwidth per direction is scale_up_Bps.
int64_t low_latency_sms(const CommKernelLaunch& k);
double low_latency_device_Bps(const CommKernelLaunch& k, A2aPhase phase, double scale_up_Bps);
// A call's fixed time (the kernel's time for one token, without the route's latency).
SimTime kernel_floor(A2aKernel kernel, A2aPhase phase, int64_t hidden);

}  // namespace moesim
