// Engine: the (time, priority, sequence) order, phases, and the picosecond clock.
#include <cmath>
#include <limits>
#include <catch2/catch.hpp>

#include <string>

#include "sim/engine/engine.h"
#include "sim/engine/stream_scheduler.h"

using namespace moesim;

TEST_CASE("events run in (time, priority, sequence) order", "[quick][engine]") {
  Engine e;
  std::string order;
  // Same time: lower priority first; same time and priority: insertion order.
  e.schedule_at(SimTime::from_ps(10), 1, [&] { order += "c"; });
  e.schedule_at(SimTime::from_ps(10), 0, [&] { order += "a"; });
  e.schedule_at(SimTime::from_ps(10), 0, [&] { order += "b"; });
  e.schedule_at(SimTime::from_ps(5), 9, [&] { order += "0"; });
  e.schedule_at(SimTime::from_ps(10), 1, [&] { order += "d"; });
  e.freeze();
  e.run();
  CHECK(order == "0abcd");
  CHECK(e.now() == SimTime::from_ps(10));
  CHECK(e.events_executed() == 5);
}

TEST_CASE("an event scheduled at the current time runs after those already queued", "[quick][engine]") {
  Engine e;
  std::string order;
  e.schedule_at(SimTime::from_ps(1), 0, [&] {
    order += "x";
    e.schedule_in(SimTime::zero(), 0, [&] { order += "z"; });
  });
  e.schedule_at(SimTime::from_ps(1), 0, [&] { order += "y"; });
  e.freeze();
  e.run();
  CHECK(order == "xyz");
}

TEST_CASE("engine phases are enforced", "[quick][engine]") {
  Engine e;
  CHECK_THROWS_AS(e.run(), std::logic_error);  // not frozen
  e.freeze();
  CHECK_THROWS_AS(e.freeze(), std::logic_error);
  e.run();
  CHECK(e.phase() == Phase::Report);
  CHECK_THROWS_AS(e.schedule_at(SimTime::from_ps(1), 0, [] {}), std::logic_error);
}

TEST_CASE("scheduling in the past is refused", "[quick][engine]") {
  Engine e;
  e.schedule_at(SimTime::from_ps(100), 0, [&] { CHECK_THROWS_AS(e.schedule_at(SimTime::from_ps(50), 0, [] {}), std::logic_error); });
  e.freeze();
  e.run();
}

TEST_CASE("SimTime is integer picoseconds with checked overflow", "[quick][engine]") {
  CHECK(SimTime::from_us(1.5).ps() == 1500000);
  CHECK(SimTime::from_seconds(2e-12).ps() == 2);
  CHECK(SimTime::from_ps(3).us() == Approx(3e-6));
  CHECK_THROWS_AS(SimTime::max() + SimTime::from_ps(1), std::overflow_error);
  CHECK_THROWS_AS(SimTime::from_seconds(1e9), std::overflow_error);  // 1e21 ps > int64
  // Doubles that become times are range-checked (a cast of 1e21 is undefined; it gave negative
  // durations, "an event in the past", for a link of 1 B/s); products of times likewise.
  CHECK(SimTime::from_ps_truncated(2.9).ps() == 2);
  CHECK(SimTime::from_ps_truncated(-2.9).ps() == -2);
  CHECK_THROWS_AS(SimTime::from_ps_truncated(1e21), std::overflow_error);
  CHECK_THROWS_AS(SimTime::from_ps_truncated(std::numeric_limits<double>::infinity()), std::overflow_error);
  CHECK_THROWS_AS(SimTime::from_ps_truncated(std::nan("")), std::overflow_error);
  CHECK((SimTime::from_ps(7) * 3).ps() == 21);
  CHECK_THROWS_AS(SimTime::from_ps(int64_t{1} << 62) * 2, std::overflow_error);
}

TEST_CASE("two streams overlap, and a collective waits for every participant", "[quick][engine]") {
  // compute0: A(10) ; compute1: B(30) ; comm0+comm1: C(5) after A and B ; compute0: D(7) after C.
  // C starts at 30 (B's end), ends at 35; D starts at 35, ends at 42. E(4) on compute0 after A
  // needs nothing else and runs at 10..14 while comm is idle.
  StreamScheduler s;
  const int c0 = s.add_stream(), c1 = s.add_stream(), m0 = s.add_stream(), m1 = s.add_stream();
  const int a = s.add_op({c0}, SimTime::from_ps(10), {});
  const int b = s.add_op({c1}, SimTime::from_ps(30), {});
  const int c = s.add_op({m0, m1}, SimTime::from_ps(5), {a, b});
  const int e4 = s.add_op({c0}, SimTime::from_ps(4), {a});
  const int d = s.add_op({c0}, SimTime::from_ps(7), {c});
  Engine e;
  s.attach(e);
  e.freeze();
  e.run();
  s.check_complete();
  CHECK(s.start(c).ps() == 30);
  CHECK(s.end(c).ps() == 35);
  CHECK(s.start(e4).ps() == 10);
  CHECK(s.end(e4).ps() == 14);
  CHECK(s.start(d).ps() == 35);
  CHECK(s.end(d).ps() == 42);
}

TEST_CASE("ops on one stream run in issue order even when a later one is ready first", "[quick][engine]") {
  StreamScheduler s;
  const int x = s.add_stream(), y = s.add_stream();
  const int slow = s.add_op({y}, SimTime::from_ps(50), {});
  const int first = s.add_op({x}, SimTime::from_ps(1), {slow});  // waits for slow
  const int second = s.add_op({x}, SimTime::from_ps(1), {});     // ready at 0 but behind `first`
  Engine e;
  s.attach(e);
  e.freeze();
  e.run();
  CHECK(s.start(first).ps() == 50);
  CHECK(s.start(second).ps() == 51);
}
