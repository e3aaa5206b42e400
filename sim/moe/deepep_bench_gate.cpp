#include "sim/moe/deepep_bench_gate.h"

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <utility>

namespace moesim {

DeepEpBenchGate::DeepEpBenchGate(int64_t E, int64_t K, int64_t groups, int64_t topk_groups)
    : experts_(E), top_k_(K), groups_(groups), topk_groups_(topk_groups) {
  if (groups < 1 || E % groups != 0 || topk_groups < 1 || topk_groups > groups || K > E / groups * topk_groups)
    throw std::invalid_argument("deepep-bench routing: groups must divide the experts and hold top_k experts");
}

void DeepEpBenchGate::route(CounterRng& rng, int64_t tokens, int32_t* ids) const {
  const int64_t per = experts_ / groups_;
  std::vector<double> score(static_cast<size_t>(experts_));
  std::vector<std::pair<double, int32_t>> best(static_cast<size_t>(groups_));
  std::vector<int32_t> cand;
  for (int64_t t = 0; t < tokens; ++t) {
    for (auto& x : score) x = rng.uniform();
    for (int64_t g = 0; g < groups_; ++g) {
      double m = -1;
      for (int64_t e = g * per; e < (g + 1) * per; ++e) m = std::max(m, score[static_cast<size_t>(e)]);
      best[static_cast<size_t>(g)] = {m, static_cast<int32_t>(g)};
    }
    std::partial_sort(best.begin(), best.begin() + topk_groups_, best.end(), std::greater<>());
    cand.clear();
    for (int64_t i = 0; i < topk_groups_; ++i)
      for (int64_t e = best[static_cast<size_t>(i)].second * per; e < (best[static_cast<size_t>(i)].second + 1) * per; ++e)
        cand.push_back(static_cast<int32_t>(e));
    std::partial_sort(cand.begin(), cand.begin() + top_k_, cand.end(),
                      [&](int32_t a, int32_t b) { return score[static_cast<size_t>(a)] > score[static_cast<size_t>(b)]; });
    std::copy(cand.begin(), cand.begin() + top_k_, ids + t * top_k_);
  }
}

}  // namespace moesim
