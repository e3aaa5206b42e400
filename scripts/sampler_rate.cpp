// The expert sampler's rate against the floor of its random stream, on the machine it runs on.
// Draws DeepSeek-V3's shape (256 experts, Zipf 0.449 popularity, 8 groups of 32, 4 groups per
// token, top-8) for 262,144 tokens x 58 layers, the tokens of the prefill benchmark
// (experiments/bench/deepseek-v3-prefill-ep32.json), and times:
//   - the xoshiro256** generator alone, one draw per (token, expert) choice plus one per token
//     for its group set: what any sampler that keeps today's streams must at least spend;
//   - ExpertSampler::sample_tokens, the sampler moesim runs.
// Built only when asked, in the Release build; run on one core:
//   cmake --build build --target sampler_rate && taskset -c 0 build/sampler_rate
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "sim/base/counter_rng.h"
#include "sim/moe/expert_sampler.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main() {
  constexpr int64_t kTokens = 262144, kLayers = 58, kTopK = 8;
  const double choices = static_cast<double>(kTokens * kLayers * kTopK);
  const double draws = static_cast<double>(kTokens * kLayers * (kTopK + 1));
  std::vector<double> weights(256);
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = 1.0 / std::pow(static_cast<double>(i + 1), 0.449);
  const moesim::ExpertSampler sampler(weights, kTopK, 8, 4);

  auto t0 = std::chrono::steady_clock::now();
  uint64_t sink = 0;
  for (int64_t layer = 0; layer < kLayers; ++layer) {
    moesim::CounterRng rng(1, static_cast<uint64_t>(layer));
    for (int64_t i = 0; i < kTokens * (kTopK + 1); ++i) sink += rng.next();
  }
  const double generator_s = seconds_since(t0);

  std::vector<int32_t> out(static_cast<size_t>(kTokens * kTopK));
  t0 = std::chrono::steady_clock::now();
  for (int64_t layer = 0; layer < kLayers; ++layer) {
    moesim::CounterRng rng(1, static_cast<uint64_t>(layer));
    sampler.sample_tokens(rng, kTokens, out.data());
    sink += static_cast<uint64_t>(out[static_cast<size_t>(layer)]);
  }
  const double sampler_s = seconds_since(t0);
  std::printf("generator alone: %.3f s (%.2f ns per draw, %.0f draws)\n", generator_s, generator_s / draws * 1e9, draws);
  std::printf("sample_tokens:   %.3f s (%.2f ns per choice, %.0f choices)\n", sampler_s, sampler_s / choices * 1e9, choices);
  std::printf("(checksum %llu)\n", static_cast<unsigned long long>(sink));
  return 0;
}
