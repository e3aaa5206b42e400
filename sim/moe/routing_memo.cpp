#include "sim/moe/routing_memo.h"

#include <algorithm>

namespace moesim {

SampledRoutingMemo& SampledRoutingMemo::instance() {
  static SampledRoutingMemo memo;
  return memo;
}

void SampledRoutingMemo::set_budget(size_t bytes) {
  const std::lock_guard<std::mutex> lock(mutex_);
  budget_ = bytes;
  if (bytes == 0) {
    entries_.clear();
    pinned_.clear();
    held_ = 0;
  }
}

bool SampledRoutingMemo::copy(const Key& key, size_t count, int32_t* out) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end() || it->second.ids.size() < count) return false;
  std::copy_n(it->second.ids.begin(), count, out);
  return true;
}

void SampledRoutingMemo::store(const Key& key, std::shared_ptr<const ExpertSampler> sampler, const int32_t* ids, size_t count) {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (budget_ == 0) return;
  Entry& e = entries_[key];
  if (e.ids.size() >= count) return;
  const bool new_sampler = pinned_.count(key.sampler) == 0;
  const size_t grow = (count - e.ids.size()) * sizeof(int32_t) + (new_sampler ? sampler->footprint_bytes() : 0);
  if (held_ + grow > budget_) {
    if (e.ids.empty()) entries_.erase(key);
    return;
  }
  held_ += grow;
  pinned_.insert(key.sampler);
  e.sampler = std::move(sampler);
  e.ids.assign(ids, ids + count);
}

}  // namespace moesim
