// A process-wide memo of a pure function's results, shared by the points of a sweep (and the
// threads that run them): built once per distinct key, kept while at most `max_entries` are held
// (beyond that, results are built and not kept). Only for values that depend on the key alone, so
// that a run gives the same answer with or without the memo. Key: any type with operator<.
// A make() that throws stores nothing and the exception reaches the caller.
#pragma once
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>

namespace moesim {

template <class Key, class Value>
class ProcessMemo {
 public:
  explicit ProcessMemo(size_t max_entries) : max_entries_(max_entries) {}

  template <class Make>
  std::shared_ptr<const Value> get(Key key, Make make) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (auto it = entries_.find(key); it != entries_.end()) return it->second;
    }
    // Built outside the lock: two threads may both build one; the first stored is kept.
    std::shared_ptr<const Value> value = std::make_shared<const Value>(make());
    const std::lock_guard<std::mutex> lock(mutex_);
    if (entries_.size() >= max_entries_) return value;
    return entries_.emplace(std::move(key), std::move(value)).first->second;
  }

 private:
  size_t max_entries_;
  std::mutex mutex_;
  std::map<Key, std::shared_ptr<const Value>> entries_;
};

}  // namespace moesim
