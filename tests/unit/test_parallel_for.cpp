// parallel_for_each: every wanted item runs once, each thread's worker is merged once, progress
// counts every item, and the error of the lowest failing item is the one rethrown.
#include <catch2/catch.hpp>

#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/engine/parallel_for.h"

using namespace moesim;

TEST_CASE("parallel_for_each runs each wanted item once, on any number of threads", "[quick][engine]") {
  for (int threads : {1, 2, 4, 16}) {
    std::vector<int> out(100, 0);
    int64_t merged = 0, last_progress = 0;
    struct W {
      int64_t items = 0;
    };
    parallel_for_each(
        100, threads, [](int64_t i) { return i % 3 != 0; }, [] { return W{}; },
        [&](int64_t i, W& w) {
          out[static_cast<size_t>(i)] += 1;
          ++w.items;
        },
        [&](W& w) { merged += w.items; }, [&](int64_t done, int64_t n) {
          CHECK(n == 100);
          last_progress = std::max(last_progress, done);
        });
    for (int i = 0; i < 100; ++i) CHECK(out[static_cast<size_t>(i)] == (i % 3 != 0 ? 1 : 0));
    CHECK(merged == 66);
    CHECK(last_progress == 66);
  }
}

TEST_CASE("parallel_for_each rethrows the lowest failing item's error", "[quick][engine]") {
  for (int threads : {1, 3}) {
    try {
      parallel_for_each(
          50, threads, [](int64_t) { return true; }, [] { return 0; },
          [](int64_t i, int&) {
            if (i == 7 || i == 30) throw std::runtime_error("item " + std::to_string(i));
          },
          [](int&) {});
      FAIL("no error");
    } catch (const std::runtime_error& e) {
      // Threads stop taking items after a failure, so 30 may never run; 7 always does first.
      CHECK(std::string(e.what()) == "item 7");
    }
  }
}
