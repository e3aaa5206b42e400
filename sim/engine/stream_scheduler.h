// Operations on in-order streams, driven by the event engine. Each op has a duration, runs on
// one or more streams (a collective occupies the communication stream of every participant),
// and waits for its dependencies; a stream runs its ops in the order they were added, like a
// CUDA stream. Events are op completions.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "sim/engine/engine.h"

namespace moesim {

class StreamScheduler {
 public:
  int32_t add_stream();
  // Adds an op; it runs on `streams` (in their issue order) after every op in `deps` (negative
  // entries: none).
  int32_t add_op(std::span<const int32_t> streams, SimTime duration, std::span<const int32_t> deps);
  int32_t add_op(const std::vector<int32_t>& streams, SimTime duration, const std::vector<int32_t>& deps) {
    return add_op(std::span<const int32_t>(streams), duration, std::span<const int32_t>(deps));
  }
  void add_dep(int32_t op, int32_t dep);
  // Schedules the ops on the engine (which must be in its build phase); after engine.run() every
  // op has a start and an end time. Throws if some op can never run (a dependency cycle).
  void attach(Engine& engine);
  void check_complete() const;

  size_t num_ops() const { return ops_.size(); }
  SimTime start(int32_t op) const { return ops_[op].start; }
  SimTime end(int32_t op) const { return ops_[op].end; }
  SimTime duration(int32_t op) const { return ops_[op].duration; }

 private:
  // Ops, their streams and their dependents in flat arrays (no allocation per op): an op's
  // streams are op_streams_[first_stream, + n_streams); its dependents a list through
  // dependents_, in the order they were added.
  struct Op {
    SimTime duration, start, end;
    int32_t first_stream = 0, n_streams = 0;
    int32_t first_dependent = -1, last_dependent = -1;
    int32_t deps_left = 0;
    bool started = false, done = false;
  };
  struct Dependent {
    int32_t op = 0;
    int32_t next = -1;
  };
  std::span<const int32_t> streams_of(const Op& op) const {
    return {op_streams_.data() + op.first_stream, static_cast<size_t>(op.n_streams)};
  }
  struct Stream {
    std::vector<int32_t> queue;
    size_t head = 0;
    bool busy = false;
  };
  void try_start(int32_t op);
  void finish(int32_t op);

  Engine* engine_ = nullptr;
  std::vector<Op> ops_;
  std::vector<int32_t> op_streams_;
  std::vector<Dependent> dependents_;
  std::vector<Stream> streams_;
  std::vector<int32_t> candidates_;  // finish's scratch
};

}  // namespace moesim
