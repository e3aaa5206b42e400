#include "sim/network/comm_buffers.h"

#include <algorithm>

namespace moesim {

namespace {

constexpr double kTokenMetaBytes = 128 * 8 + 128 * 4 + 128 * 4 + 8;
constexpr int64_t kNvlPeers = 8;

// DeepEP's recommended NVLink and RDMA receive chunks (tokens) for a rank count: the larger of its
// dispatch and combine configs (deep_ep/buffers/legacy.py get_dispatch_config, get_combine_config;
// the RDMA chunk is rounded up to a multiple of its send chunk, config.hpp).
struct Chunks {
  double nvl_recv, rdma_recv;
};

Chunks recommended_chunks(int64_t ranks) {
  if (ranks <= 8) return {256, 132};
  if (ranks <= 16) return {288, 140};
  if (ranks <= 64) return {288, 128};
  if (ranks <= 96) return {480, 132};
  if (ranks <= 128) return {560, 132};
  return {720, 132};
}

double align(double bytes, double to) { return static_cast<double>(static_cast<int64_t>((bytes + to - 1) / to)) * to; }

}  // namespace

double deepep_normal_buffer_bytes(int64_t sms, int64_t ranks, int64_t hidden) {
  const int64_t channel_count = sms / 2;  // one channel per 2 SMs
  const double channels = static_cast<double>(channel_count), hidden_bytes = static_cast<double>(hidden) * 2.0;
  const Chunks c = recommended_chunks(ranks);
  const double nvl_ranks = static_cast<double>(std::min(ranks, kNvlPeers));
  const double rdma_ranks = static_cast<double>(std::max<int64_t>(ranks / kNvlPeers, 1));
  const double nvl = channels * nvl_ranks * ((2.0 * rdma_ranks + 3.0) * 4.0 + c.nvl_recv * (hidden_bytes + kTokenMetaBytes));
  if (ranks <= kNvlPeers) return align(nvl, 128);
  const double rdma = channels * rdma_ranks * ((kNvlPeers * 2 + 2) * 2 * 4.0 + 2.0 * c.rdma_recv * (hidden_bytes + kTokenMetaBytes + 16.0));
  return align(nvl, 128) + align(rdma, 128);
}

double deepep_low_latency_buffer_bytes(int64_t max_tokens_per_rank, int64_t hidden, int64_t experts) {
  const double H = static_cast<double>(hidden), N = static_cast<double>(max_tokens_per_rank), E = static_cast<double>(experts);
  const double scales = H / 128.0;
  const double dispatch_msg = 16.0 + std::max(2.0 * H, H + scales * 4.0);
  const double combine_msg = scales * 4.0 + 2.0 * H;
  const double send = std::max(N * dispatch_msg, E * N * combine_msg);
  const double recv = E * N * std::max(dispatch_msg, combine_msg);
  const double signal = align(E * 4.0, 128);
  return 2.0 * (send + recv + signal);
}

}  // namespace moesim
