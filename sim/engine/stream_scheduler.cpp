#include "sim/engine/stream_scheduler.h"

#include <stdexcept>

#include <fmt/format.h>

namespace moesim {

int32_t StreamScheduler::add_stream() {
  streams_.emplace_back();
  return static_cast<int32_t>(streams_.size() - 1);
}

int32_t StreamScheduler::add_op(const std::vector<int32_t>& streams, SimTime duration, const std::vector<int32_t>& deps) {
  if (engine_) throw std::logic_error("ops must be added before the scheduler is attached");
  if (streams.empty()) throw std::logic_error("an op needs at least one stream");
  const auto id = static_cast<int32_t>(ops_.size());
  Op op;
  op.duration = duration;
  op.streams = streams;
  ops_.push_back(std::move(op));
  for (int32_t s : streams) streams_.at(s).queue.push_back(id);
  for (int32_t d : deps) add_dep(id, d);
  return id;
}

void StreamScheduler::add_dep(int32_t op, int32_t dep) {
  if (dep < 0) return;
  if (dep >= op) throw std::logic_error("a dependency must be added before the op that waits for it");
  ops_[dep].dependents.push_back(op);
  ++ops_[op].deps_left;
}

void StreamScheduler::attach(Engine& engine) {
  engine_ = &engine;
  engine.schedule_at(SimTime::zero(), 0, [this] {
    for (size_t s = 0; s < streams_.size(); ++s)
      if (!streams_[s].queue.empty()) try_start(streams_[s].queue[0]);
  });
}

void StreamScheduler::try_start(int32_t id) {
  Op& op = ops_[id];
  if (op.started || op.deps_left > 0) return;
  for (int32_t s : op.streams) {
    const Stream& st = streams_[s];
    if (st.busy || st.head >= st.queue.size() || st.queue[st.head] != id) return;
  }
  op.started = true;
  op.start = engine_->now();
  for (int32_t s : op.streams) streams_[s].busy = true;
  engine_->schedule_in(op.duration, 0, [this, id] { finish(id); });
}

void StreamScheduler::finish(int32_t id) {
  Op& op = ops_[id];
  op.done = true;
  op.end = engine_->now();
  // Ops that may start now (a member buffer: try_start only schedules, it never calls finish).
  std::vector<int32_t>& candidates = candidates_;
  candidates.clear();
  for (int32_t s : op.streams) {
    Stream& st = streams_[s];
    st.busy = false;
    ++st.head;
    if (st.head < st.queue.size()) candidates.push_back(st.queue[st.head]);
  }
  for (int32_t d : op.dependents) {
    --ops_[d].deps_left;
    candidates.push_back(d);
  }
  for (int32_t c : candidates) try_start(c);
}

void StreamScheduler::check_complete() const {
  for (size_t i = 0; i < ops_.size(); ++i)
    if (!ops_[i].done) throw std::logic_error(fmt::format("op {} never ran: dependency cycle or stream order conflict", i));
}

}  // namespace moesim
