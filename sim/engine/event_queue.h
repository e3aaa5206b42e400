// The future event list: events ordered by (time, priority, sequence) in one comparator, so
// that ties between simultaneous events resolve the same way on every run (cf. OMNeT++, SST).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "sim/engine/sim_time.h"

namespace moesim {

struct Event {
  SimTime time;
  int32_t priority = 0;  // lower runs first among events at the same time; reserved: the step graph
                         // issues every event at 0, so ties go by sequence (issue order)
  uint64_t sequence = 0; // insertion order, assigned by the queue
  std::function<void()> action;
};

// The single ordering key of the engine. Returns true when a runs before b.
struct EventOrder {
  bool operator()(const Event& a, const Event& b) const {
    if (a.time != b.time) return a.time < b.time;
    if (a.priority != b.priority) return a.priority < b.priority;
    return a.sequence < b.sequence;
  }
};

class EventQueue {
 public:
  uint64_t push(SimTime time, int32_t priority, std::function<void()> action);
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  Event pop();

 private:
  // The heap holds the ordering keys and the slot of each event's action: sifting moves 24-byte
  // keys, not std::function objects (each move of one is an indirect call).
  struct Key {
    SimTime time;
    int32_t priority;
    int32_t slot;  // into actions_
    uint64_t sequence;
  };
  struct Later {
    bool operator()(const Key& a, const Key& b) const {
      if (a.time != b.time) return a.time > b.time;
      if (a.priority != b.priority) return a.priority > b.priority;
      return a.sequence > b.sequence;
    }
  };
  std::vector<Key> heap_;
  std::vector<std::function<void()>> actions_;  // by slot; a popped event's slot is reused
  std::vector<int32_t> free_slots_;
  uint64_t next_sequence_ = 0;
};

}  // namespace moesim
