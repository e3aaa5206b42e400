// The gate of DeepEP's benchmarks (tests/test_internode.py, test_intranode.py,
// test_low_latency.py at github.com/deepseek-ai/DeepEP): every (token, expert) gets an i.i.d.
// random score, groups (contiguous experts) are ranked by their best score, the top `topk_groups`
// kept, and the top_k experts taken among them. (DeepEP's scores are |N(0,1)| + 1; any i.i.d.
// continuous score ranks the same way.) Without groups (groups == 1) this is a uniform top-k.
#pragma once
#include <cstdint>
#include <vector>

#include "sim/base/counter_rng.h"

namespace moesim {

class DeepEpBenchGate {
 public:
  // Throws std::invalid_argument unless groups divide the experts and the kept groups hold top_k.
  DeepEpBenchGate(int64_t experts, int64_t top_k, int64_t groups, int64_t topk_groups);
  // Writes tokens x top_k expert ids (token-major) drawn from `rng`.
  void route(CounterRng& rng, int64_t tokens, int32_t* ids) const;

 private:
  int64_t experts_, top_k_, groups_, topk_groups_;
};

}  // namespace moesim
