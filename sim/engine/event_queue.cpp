#include "sim/engine/event_queue.h"

#include <stdexcept>

namespace moesim {

uint64_t EventQueue::push(SimTime time, int32_t priority, std::function<void()> action) {
  const uint64_t seq = next_sequence_++;
  heap_.push(Event{time, priority, seq, std::move(action)});
  return seq;
}

Event EventQueue::pop() {
  if (heap_.empty()) throw std::logic_error("pop from an empty event queue");
  Event e = heap_.top();
  heap_.pop();
  return e;
}

}  // namespace moesim
