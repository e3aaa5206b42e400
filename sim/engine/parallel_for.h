// Runs independent work items on a few threads with deterministic results: every item i in
// [0, n) that `wanted(i)` runs `body(i, worker)` on one of up to `threads` threads, each thread
// with its own worker from `make()` (scratch buffers, models with per-run state); items must only
// write their own outputs. Afterwards `merge(worker)` runs on the calling thread for each worker
// in creation order (merges must be order-independent, e.g. sums). `progress(done, n)`, if set,
// is called under a lock after each item. If items throw, every thread stops taking new items and
// the exception of the lowest failing i is rethrown, so errors are deterministic too.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace moesim {

template <class Wanted, class Make, class Body, class Merge>
void parallel_for_each(int64_t n, int threads, Wanted wanted, Make make, Body body, Merge merge,
                       const std::function<void(int64_t, int64_t)>& progress = {}) {
  std::vector<int64_t> items;
  for (int64_t i = 0; i < n; ++i)
    if (wanted(i)) items.push_back(i);
  const int used = static_cast<int>(std::clamp<int64_t>(threads, 1, std::max<int64_t>(1, static_cast<int64_t>(items.size()))));
  std::vector<std::exception_ptr> errors(items.size());
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex progress_mutex;
  int64_t done = 0;
  using Worker = decltype(make());
  std::vector<Worker> workers;
  workers.reserve(static_cast<size_t>(used));
  for (int t = 0; t < used; ++t) workers.push_back(make());
  auto drain = [&](Worker& w) {
    for (size_t k = next++; k < items.size() && !failed; k = next++) {
      try {
        body(items[k], w);
      } catch (...) {
        errors[k] = std::current_exception();
        failed = true;
      }
      if (progress) {
        std::lock_guard<std::mutex> lock(progress_mutex);
        progress(++done, n);
      }
    }
  };
  if (used == 1) {
    drain(workers[0]);
  } else {
    std::vector<std::thread> pool;
    for (int t = 1; t < used; ++t) pool.emplace_back(drain, std::ref(workers[static_cast<size_t>(t)]));
    drain(workers[0]);
    for (auto& th : pool) th.join();
  }
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  for (auto& w : workers) merge(w);
}

}  // namespace moesim
