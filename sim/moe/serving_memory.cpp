#include "sim/moe/serving_memory.h"

#include <algorithm>
#include <cmath>

namespace moesim {

double default_static_fraction(ServingFramework framework, int64_t tp) {
  if (framework == ServingFramework::Vllm) return 0.9;
  if (framework == ServingFramework::None) return 1.0;
  return tp >= 16 ? 0.79 : tp >= 8 ? 0.81 : tp >= 4 ? 0.85 : tp >= 2 ? 0.87 : 0.88;
}

ServingMemory serving_memory(const RuntimeMemoryConfig& rt, int64_t tp, const HbmLedger& h, double capacity_bytes, double reserved_bytes,
                             double kv_bytes_per_token) {
  ServingMemory s;
  s.gpu_bytes = capacity_bytes;
  s.reserved_bytes = reserved_bytes;
  s.static_fraction = rt.static_fraction.value_or(default_static_fraction(rt.framework, tp));
  s.kv_bytes_per_token = kv_bytes_per_token;
  s.kv_needed_bytes = h.get(HbmCategory::KvCache);
  const double weights = h.get(HbmCategory::Weights) + h.get(HbmCategory::RedundantExpertWeights);
  const double transient = h.get(HbmCategory::Activations) + h.get(HbmCategory::A2aBuffers) + h.get(HbmCategory::Workspace) +
                           h.get(HbmCategory::Gradients) + h.get(HbmCategory::OptimizerState);
  s.dynamic_bytes = transient + rt.cuda_graph_bytes;
  if (rt.framework == ServingFramework::Sglang) {
    // Fractions of the memory free when the engine starts (after the context and communicators).
    const double free_at_start = capacity_bytes - reserved_bytes;
    s.static_pool_bytes = s.static_fraction * free_at_start;
    s.kv_pool_bytes = std::max(0.0, s.static_pool_bytes - weights);
    s.dynamic_limit_bytes = free_at_start - s.static_pool_bytes;
  } else {
    // A fraction of the whole GPU; the context, the weights and the profiled peak come first.
    s.static_pool_bytes = s.static_fraction * capacity_bytes;
    s.kv_pool_bytes = std::max(0.0, s.static_pool_bytes - reserved_bytes - weights - s.dynamic_bytes);
    s.dynamic_limit_bytes = std::max(0.0, s.static_pool_bytes - reserved_bytes - weights);
  }
  s.kv_capacity_tokens = kv_bytes_per_token > 0 ? std::floor(s.kv_pool_bytes / kv_bytes_per_token) : 0.0;
  const double before_kv = weights + (rt.framework == ServingFramework::Sglang ? 0.0 : reserved_bytes);
  if (before_kv > s.static_pool_bytes) s.limit = "the weights exceed the engine's static memory";
  else if (s.dynamic_bytes > s.dynamic_limit_bytes) s.limit = "activations, buffers, workspace and CUDA graphs exceed the memory left beside the KV pool";
  else if (s.kv_needed_bytes > s.kv_pool_bytes) s.limit = "the workload's KV cache exceeds the KV pool";
  s.fits = s.limit.empty();
  return s;
}

}  // namespace moesim
