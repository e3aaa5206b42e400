#include "sim/moe/expert_sampler_cache.h"

#include <map>
#include <mutex>
#include <tuple>

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
  static std::mutex mutex;
  static std::map<SamplerKey, std::shared_ptr<const ExpertSampler>> cache;
  SamplerKey key{top_k, num_groups, topk_groups, weights};
  {
    const std::lock_guard<std::mutex> lock(mutex);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  // Built outside the lock (two threads may both build the same one; the first stored wins).
  auto sampler = std::make_shared<const ExpertSampler>(weights, top_k, num_groups, topk_groups);
  const std::lock_guard<std::mutex> lock(mutex);
  if (cache.size() >= kMaxCachedSamplers) return sampler;
  return cache.emplace(std::move(key), std::move(sampler)).first->second;
}

}  // namespace moesim
