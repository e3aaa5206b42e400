// Sampled routing kept for the points of a sweep. A sampled source's expert ids are a pure function
// of (the sampler, i.e. the per-expert weights, top_k and groups; the seed; the MoE layer; the
// micro-batch; the device), and a stream's first T tokens are the same for every T, so sweep points
// that differ in anything but the routing (hardware, EP, placement, capacity factor, and the batch
// size, which reads a prefix) replay the ids the first point drew instead of drawing them again.
// Off unless a budget is set (`moesim sweep` sets one): a single run draws each stream once.
// Thread-safe; streams beyond the budget are drawn and not kept. Results are identical with or
// without it (tests/unit/test_routing_memo.cpp).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <tuple>
#include <vector>

#include "sim/moe/expert_sampler.h"

namespace moesim {

class SampledRoutingMemo {
 public:
  struct Key {
    const ExpertSampler* sampler = nullptr;  // kept alive by the entry (its address names its weights)
    uint64_t seed = 0;
    int64_t layer = 0, micro_batch = 0, device = 0;
    bool operator<(const Key& o) const {
      return std::tie(sampler, seed, layer, micro_batch, device) < std::tie(o.sampler, o.seed, o.layer, o.micro_batch, o.device);
    }
  };
  static SampledRoutingMemo& instance();
  // Bytes kept at most, the expert ids and the samplers they hold alive; 0 (the default) turns
  // the memo off and empties it.
  void set_budget(size_t bytes);
  bool enabled() const { return budget_.load(std::memory_order_relaxed) > 0; }
  // Copies the stream's first `count` ids into out; false when fewer are held.
  bool copy(const Key& key, size_t count, int32_t* out) const;
  // Keeps ids[0..count) as the stream's first ids (when longer than what is held and within the
  // budget); `sampler` is the sampler of key.sampler, held so that its address is not reused.
  void store(const Key& key, std::shared_ptr<const ExpertSampler> sampler, const int32_t* ids, size_t count);

 private:
  struct Entry {
    std::shared_ptr<const ExpertSampler> sampler;
    std::vector<int32_t> ids;
  };
  mutable std::mutex mutex_;
  std::atomic<size_t> budget_{0};  // bytes; read without the lock by enabled()
  size_t held_ = 0;               // bytes
  std::map<Key, Entry> entries_;
  std::set<const ExpertSampler*> pinned_;  // samplers some entry holds (counted in held_ once)
};

}  // namespace moesim
