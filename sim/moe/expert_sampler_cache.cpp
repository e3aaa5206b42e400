#include "sim/moe/expert_sampler_cache.h"

#include <tuple>

#include "sim/base/process_memo.h"

namespace moesim {
namespace {

constexpr size_t kMaxCachedSamplers = 512;  // about 110 KB each for DeepSeek-V3: under 60 MB

struct SamplerKey {
  int top_k, num_groups, topk_groups;
  std::vector<double> weights;
  bool operator<(const SamplerKey& o) const {
    return std::tie(top_k, num_groups, topk_groups, weights) < std::tie(o.top_k, o.num_groups, o.topk_groups, o.weights);
  }
};

}  // namespace

std::shared_ptr<const ExpertSampler> shared_expert_sampler(const std::vector<double>& weights, int top_k, int num_groups, int topk_groups) {
  static ProcessMemo<SamplerKey, ExpertSampler> memo(kMaxCachedSamplers);
  return memo.get(SamplerKey{top_k, num_groups, topk_groups, weights},
                  [&] { return ExpertSampler(weights, top_k, num_groups, topk_groups); });
}

}  // namespace moesim
