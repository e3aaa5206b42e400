// The buffers DeepEP preallocates once for the whole run, sized as DeepEP sizes them
// (github.com/deepseek-ai/DeepEP, csrc/legacy/config.hpp and deep_ep/buffers/legacy.py):
//   normal kernels: an NVLink buffer of (S / 2 channels) x min(ranks, 8) NVLink peers x
//     (the config's NVLink receive chunk) tokens x (hidden bytes + per-token metadata), and across
//     nodes an RDMA buffer of channels x ranks / 8 x (RDMA receive chunk) tokens x the same, twice
//     (send and receive); the chunk sizes are DeepEP's recommended dispatch and combine configs for
//     the rank count, the larger of the two (as SGLang and vLLM size the buffer for both);
//   low-latency kernels: an RDMA buffer of two halves (odd / even calls), each with a send buffer
//     of max(max_tokens x dispatch message, experts x max_tokens x combine message) and a receive
//     buffer of experts x max_tokens x the larger message; a dispatch message is 16 + max(2 H,
//     H + H / 128 x 4) bytes, a combine message 2 H + H / 128 x 4.
// Hidden bytes are hidden x 2 (bf16: the frameworks size the buffers for unquantised tokens).
// Per-token metadata: up to 128 top-k ids (8 bytes) and weights (4), 128 scales (4), the source
// record (8): 2,056 bytes (config.hpp's kNumMaxTopK and kNumMaxScales).
#pragma once
#include <cstdint>

namespace moesim {

// Bytes of DeepEP's NVLink + RDMA buffers for normal kernels on `sms` SMs with `ranks` EP ranks.
double deepep_normal_buffer_bytes(int64_t sms, int64_t ranks, int64_t hidden);
// Bytes of DeepEP's low-latency RDMA buffer for `experts` expert slots in the EP group.
double deepep_low_latency_buffer_bytes(int64_t max_tokens_per_rank, int64_t hidden, int64_t experts);

// SGLang's default num_max_dispatch_tokens_per_rank for the low-latency kernels
// (SGLANG_DEEPEP_NUM_MAX_DISPATCH_TOKENS_PER_RANK); a batch larger than it must raise it.
inline constexpr int64_t kLowLatencyDefaultMaxTokensPerRank = 128;

}  // namespace moesim
