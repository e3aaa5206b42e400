// ProcessMemo: one build per key, shared results, a cap on what is kept, nothing kept on a throw.
#include <stdexcept>
#include <string>

#include <catch2/catch.hpp>

#include "sim/base/process_memo.h"

using namespace moesim;

TEST_CASE("process memo: builds once per key and shares the result", "[quick][memo]") {
  ProcessMemo<int, std::string> memo(8);
  int builds = 0;
  auto make = [&](int k) { return [&builds, k] { ++builds; return std::to_string(k * k); }; };
  const auto a = memo.get(3, make(3));
  const auto b = memo.get(3, make(3));
  CHECK(*a == "9");
  CHECK(a.get() == b.get());
  CHECK(builds == 1);
  CHECK(*memo.get(4, make(4)) == "16");
  CHECK(builds == 2);
}

TEST_CASE("process memo: beyond the cap results are built and not kept, and a throw keeps nothing", "[quick][memo]") {
  ProcessMemo<int, int> memo(1);
  int builds = 0;
  memo.get(1, [&] { return ++builds; });
  memo.get(2, [&] { return ++builds; });  // over the cap: built, not kept
  memo.get(2, [&] { return ++builds; });
  CHECK(builds == 3);
  CHECK(*memo.get(1, [&] { return ++builds; }) == 1);  // the first stays
  ProcessMemo<int, int> failing(4);
  CHECK_THROWS_AS(failing.get(7, []() -> int { throw std::invalid_argument("bad"); }), std::invalid_argument);
  CHECK(*failing.get(7, [] { return 42; }) == 42);
}
