#include "sim/engine/event_queue.h"

#include <algorithm>
#include <stdexcept>

namespace moesim {

uint64_t EventQueue::push(SimTime time, int32_t priority, std::function<void()> action) {
  const uint64_t seq = next_sequence_++;
  int32_t slot = 0;
  if (free_slots_.empty()) {
    slot = static_cast<int32_t>(actions_.size());
    actions_.push_back(std::move(action));
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
    actions_[static_cast<size_t>(slot)] = std::move(action);
  }
  heap_.push_back(Key{time, priority, slot, seq});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
  return seq;
}

Event EventQueue::pop() {
  if (heap_.empty()) throw std::logic_error("pop from an empty event queue");
  std::pop_heap(heap_.begin(), heap_.end(), Later{});
  const Key k = heap_.back();
  heap_.pop_back();
  free_slots_.push_back(k.slot);
  return Event{k.time, k.priority, k.sequence, std::move(actions_[static_cast<size_t>(k.slot)])};
}

}  // namespace moesim
