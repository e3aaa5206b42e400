#include "sim/network/comm_kernel.h"

#include <algorithm>

namespace moesim {
namespace {

constexpr int64_t kIntranodeWarpsPerSm = 24;   // intranode.cu: 768 threads per sender / receiver SM
constexpr int64_t kRdmaSenderWarps = 7;        // internode.cu: kNumDispatchRDMASenderWarps
constexpr int64_t kLowLatencyWarpsPerSm = 32;  // internode_ll.cu: warp groups x warps per group

double channels(const CommKernelLaunch& k) { return static_cast<double>(std::max<int64_t>(1, k.sms / 2)); }

}  // namespace

double normal_pair_Bps(const CommKernelLaunch& k, int64_t devices_per_node) {
  if (normal_across_nodes(k, devices_per_node)) return channels(k) * kWarpCopyBps;
  const int64_t warps = std::max<int64_t>(1, kIntranodeWarpsPerSm / std::max<int64_t>(1, k.ranks));
  return channels(k) * static_cast<double>(warps) * kWarpCopyBps;
}

double normal_rdma_sender_Bps(const CommKernelLaunch& k) { return channels(k) * static_cast<double>(kRdmaSenderWarps) * kWarpCopyBps; }

int64_t low_latency_sms(const CommKernelLaunch& k) {
  const int64_t e = std::max<int64_t>(1, k.experts), n = std::max<int64_t>(1, k.device_sms);
  const int64_t groups = (e + n - 1) / n;
  return (e + groups - 1) / groups;
}

double low_latency_device_Bps(const CommKernelLaunch& k, A2aPhase phase, double scale_up_Bps) {
  const double ceiling = kLowLatencyShare[static_cast<int>(phase)] * scale_up_Bps;
  if (phase == A2aPhase::Combine) return ceiling;
  const auto warps = static_cast<double>(low_latency_sms(k) * std::clamp<int64_t>(k.top_k, 1, kLowLatencyWarpsPerSm));
  return std::min(ceiling, warps * kWarpCopyBps);
}

SimTime kernel_floor(A2aKernel kernel, A2aPhase phase, int64_t hidden) {
  const double k_hidden = static_cast<double>(hidden) / 1024.0;
  const bool dispatch = phase == A2aPhase::Dispatch;
  switch (kernel) {
    case A2aKernel::DeepEpNormal:
      return SimTime::from_us(dispatch ? 23.5 : 22.0 + 3.0 * k_hidden);
    case A2aKernel::DeepEpLowLatency:
      return SimTime::from_us(dispatch ? 7.8 + 0.42 * k_hidden : 8.2 + 0.40 * k_hidden);
    case A2aKernel::None:
    case A2aKernel::Nccl:
      break;
  }
  return SimTime();
}

}  // namespace moesim
