#include "sim/engine/stream_scheduler.h"

#include <stdexcept>

#include <fmt/format.h>

namespace moesim {

int32_t StreamScheduler::add_stream() {
  streams_.emplace_back();
  return static_cast<int32_t>(streams_.size() - 1);
}

int32_t StreamScheduler::add_op(std::span<const int32_t> streams, SimTime duration, std::span<const int32_t> deps) {
  if (engine_) throw std::logic_error("ops must be added before the scheduler is attached");
  if (streams.empty()) throw std::logic_error("an op needs at least one stream");
  const auto id = static_cast<int32_t>(ops_.size());
  Op& op = ops_.emplace_back();
  op.duration = duration;
  op.first_stream = static_cast<int32_t>(op_streams_.size());
  op.n_streams = static_cast<int32_t>(streams.size());
  for (int32_t s : streams) {
    streams_.at(s).queue.push_back(id);
    op_streams_.push_back(s);
  }
  for (int32_t d : deps) add_dep(id, d);
  return id;
}

void StreamScheduler::add_dep(int32_t op, int32_t dep) {
  if (dep < 0) return;
  if (dep >= op) throw std::logic_error("a dependency must be added before the op that waits for it");
  const auto edge = static_cast<int32_t>(dependents_.size());
  dependents_.push_back({op, -1});
  Op& d = ops_[dep];
  (d.last_dependent < 0 ? d.first_dependent : dependents_[d.last_dependent].next) = edge;
  d.last_dependent = edge;
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
  for (int32_t s : streams_of(op)) {
    const Stream& st = streams_[s];
    if (st.busy || st.head >= st.queue.size() || st.queue[st.head] != id) return;
  }
  op.started = true;
  op.start = engine_->now();
  for (int32_t s : streams_of(op)) streams_[s].busy = true;
  engine_->schedule_in(op.duration, 0, [this, id] { finish(id); });
}

void StreamScheduler::finish(int32_t id) {
  Op& op = ops_[id];
  op.done = true;
  op.end = engine_->now();
  // Ops that may start now (a member buffer: try_start only schedules, it never calls finish).
  std::vector<int32_t>& candidates = candidates_;
  candidates.clear();
  for (int32_t s : streams_of(op)) {
    Stream& st = streams_[s];
    st.busy = false;
    ++st.head;
    if (st.head < st.queue.size()) candidates.push_back(st.queue[st.head]);
  }
  for (int32_t e = op.first_dependent; e >= 0; e = dependents_[e].next) {
    const int32_t d = dependents_[e].op;
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
