// Expert samplers shared within one process: a sampler is a pure function of (per-expert
// weights, top_k, groups, groups kept), and building one for group-limited routing (an alias table
// per group set: 70 for DeepSeek-V3) costs more than a small sweep point's whole simulation. Sweep
// points that differ in anything but the routing (hardware, EP, placement, capacity factor, batch)
// reuse the samplers of the first point. Thread-safe; at most kMaxCachedSamplers are kept, after
// which new ones are built and not cached. Results are identical with or without the cache.
#pragma once
#include <memory>
#include <vector>

#include "sim/moe/expert_sampler.h"

namespace moesim {

// The sampler for these arguments (ExpertSampler's constructor's), built once per process.
std::shared_ptr<const ExpertSampler> shared_expert_sampler(const std::vector<double>& weights, int top_k, int num_groups, int topk_groups);

}  // namespace moesim
