// The discrete-event engine: an object (no globals) that owns the clock and the event list and
// enforces the phases build -> freeze -> run -> report. Scheduling is allowed while building
// (initial events) and while running; after the run the engine is read-only.
#pragma once
#include <cstdint>
#include <functional>

#include "sim/engine/event_queue.h"

namespace moesim {

enum class Phase { Build, Frozen, Run, Report };

class Engine {
 public:
  Phase phase() const { return phase_; }
  SimTime now() const { return now_; }
  uint64_t events_executed() const { return executed_; }

  // Schedules `action` at absolute time `at` (not before now).
  void schedule_at(SimTime at, int32_t priority, std::function<void()> action);
  void schedule_in(SimTime delay, int32_t priority, std::function<void()> action) {
    schedule_at(now_ + delay, priority, std::move(action));
  }

  void freeze();            // Build -> Frozen
  void run();               // Frozen -> Run -> Report; runs until the event list is empty

 private:
  Phase phase_ = Phase::Build;
  SimTime now_;
  EventQueue queue_;
  uint64_t executed_ = 0;
};

}  // namespace moesim
