#include "sim/engine/engine.h"

#include <stdexcept>

namespace moesim {

void Engine::schedule_at(SimTime at, int32_t priority, std::function<void()> action) {
  if (phase_ == Phase::Report) throw std::logic_error("cannot schedule events after the run");
  if (at < now_) throw std::logic_error("cannot schedule an event in the past");
  queue_.push(at, priority, std::move(action));
}

void Engine::freeze() {
  if (phase_ != Phase::Build) throw std::logic_error("engine frozen twice");
  phase_ = Phase::Frozen;
}

void Engine::run() {
  if (phase_ != Phase::Frozen) throw std::logic_error("engine must be frozen before it runs");
  phase_ = Phase::Run;
  while (!queue_.empty()) {
    Event e = queue_.pop();
    now_ = e.time;
    ++executed_;
    e.action();
  }
  phase_ = Phase::Report;
}

}  // namespace moesim
