#include "sim/network/flow_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>
#include <stdexcept>

namespace moesim {

FlowModel::FlowModel(const Topology& topology, FlowModelOptions options) : topo_(topology), opt_(options) {
  if (!(opt_.completion_tolerance >= 0)) throw std::invalid_argument("flow model: completion tolerance must be >= 0");
}

void FlowModel::solve_rates() {
  // Progressive filling: repeatedly take the link with the smallest fair share (remaining capacity
  // / weight of its unfrozen flows), give its unfrozen flows that share, and charge them on their
  // other links. Freezing at the smallest share can only raise other links' shares, so keys in the
  // heap are lower bounds: a popped key that is stale is pushed back with its current share.
  const size_t L = link_id_.size();
  for (size_t l = 0; l < L; ++l) links_[l] = {capacity_[l], active_weight_[l]};
  for (int32_t f : live_) state_[f] = kUnfrozen;
  using Entry = std::pair<double, int32_t>;
  std::vector<Entry> heap_storage;
  heap_storage.reserve(L);
  for (size_t l = 0; l < L; ++l)
    if (links_[l].unfrozen > 0.5) heap_storage.emplace_back(links_[l].rem / links_[l].unfrozen, static_cast<int32_t>(l));
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap(std::greater<Entry>(), std::move(heap_storage));
  while (!heap.empty()) {
    const auto [key, l] = heap.top();
    heap.pop();
    const LinkState ls = links_[l];
    if (ls.unfrozen <= 0.5) continue;  // weights are whole numbers
    const double share = std::max(0.0, ls.rem) / ls.unfrozen;
    if (share > key * (1.0 + 1e-12)) {
      heap.emplace(share, l);
      continue;
    }
    for (int64_t i = link_first_[l]; i < link_first_[l + 1]; ++i) {
      const int32_t f = link_flows_[i];
      if (state_[f] != kUnfrozen) continue;
      state_[f] = kFrozen;
      rate_[f] = share;
      const double w = weight_[f], charged = share * w;
      for (int64_t p = flow_first_[f]; p < flow_first_[f + 1]; ++p) {
        LinkState& m = links_[path_[p]];
        m.rem -= charged;
        m.unfrozen -= w;
      }
    }
  }
}

CollectiveResult FlowModel::run(const FlowSet& set_in, SimTime fixed_latency) {
  CollectiveResult r;
  if (set_in.size() == 0) return r;
  FlowSet set = set_in;
  set.merge_identical();
  flows_ = set.flows();
  const size_t F = flows_.size();

  // Number the links the flows use and build both adjacency lists.
  std::vector<int32_t> local(topo_.num_links(), -1);
  link_id_.clear();
  flow_first_.assign(F + 1, 0);
  path_.clear();
  for (size_t f = 0; f < F; ++f) {
    const int32_t* p = set.path(flows_[f]);
    for (int32_t h = 0; h < flows_[f].hops; ++h) {
      if (local[p[h]] < 0) {
        local[p[h]] = static_cast<int32_t>(link_id_.size());
        link_id_.push_back(p[h]);
      }
      path_.push_back(local[p[h]]);
    }
    flow_first_[f + 1] = static_cast<int64_t>(path_.size());
  }
  const size_t L = link_id_.size();
  capacity_.resize(L);
  for (size_t l = 0; l < L; ++l) capacity_[l] = topo_.link(link_id_[l]).bandwidth_Bps * topo_.link(link_id_[l]).efficiency;
  link_first_.assign(L + 1, 0);
  for (int32_t l : path_) ++link_first_[static_cast<size_t>(l) + 1];
  for (size_t l = 0; l < L; ++l) link_first_[l + 1] += link_first_[l];
  link_flows_.resize(path_.size());
  {
    std::vector<int64_t> fill(link_first_.begin(), link_first_.end() - 1);
    for (size_t f = 0; f < F; ++f)
      for (int64_t p = flow_first_[f]; p < flow_first_[f + 1]; ++p) link_flows_[fill[path_[p]]++] = static_cast<int32_t>(f);
  }
  active_weight_.assign(L, 0.0);
  for (size_t f = 0; f < F; ++f)
    for (int64_t p = flow_first_[f]; p < flow_first_[f + 1]; ++p) active_weight_[path_[p]] += flows_[f].weight;
  remaining_.resize(F);
  weight_.resize(F);
  for (size_t f = 0; f < F; ++f) remaining_[f] = flows_[f].bytes, weight_[f] = flows_[f].weight;
  rate_.assign(F, 0.0);
  state_.assign(F, kUnfrozen);
  links_.resize(L);
  double now = 0, end = 0;
  std::vector<int32_t>& live = live_;  // unfinished flows, in order
  live.resize(F);
  for (size_t f = 0; f < F; ++f) live[f] = static_cast<int32_t>(f);
  std::vector<double> due(F);
  size_t stale_entries = 0;  // link_flows_ entries of finished flows
  while (!live.empty()) {
    solve_rates();
    ++r.rate_updates;
    double first = std::numeric_limits<double>::infinity();
    for (int32_t f : live) {
      if (!(rate_[f] > 0)) throw std::logic_error("flow model: a flow got no bandwidth");
      due[f] = remaining_[f] / rate_[f];
      first = std::min(first, due[f]);
    }
    const double window = first + opt_.completion_tolerance * (now + first) + first * 1e-12;
    double step = first;
    for (int32_t f : live)
      if (due[f] <= window) step = std::max(step, due[f]);
    size_t kept = 0;
    for (int32_t f : live) {
      if (due[f] <= window) {
        state_[f] = kFinished;
        end = std::max(end, now + due[f] + flows_[f].latency.seconds());
        for (int64_t p = flow_first_[f]; p < flow_first_[f + 1]; ++p) active_weight_[path_[p]] -= flows_[f].weight;
        stale_entries += static_cast<size_t>(flow_first_[f + 1] - flow_first_[f]);
      } else {
        remaining_[f] -= rate_[f] * step;
        live[kept++] = f;
      }
    }
    live.resize(kept);
    now += step;
    // Drop finished flows from the links' lists once they are a third of them.
    if (stale_entries * 3 > link_flows_.size()) {
      size_t out = 0;
      for (size_t l = 0; l < L; ++l) {
        const int64_t b = link_first_[l], e = link_first_[l + 1];
        link_first_[l] = static_cast<int64_t>(out);
        for (int64_t i = b; i < e; ++i)
          if (state_[link_flows_[i]] != kFinished) link_flows_[out++] = link_flows_[i];
      }
      link_first_[L] = static_cast<int64_t>(out);
      link_flows_.resize(out);
      stale_entries = 0;
    }
  }
  // Round up to a whole picosecond so that no link is charged above 100%.
  r.duration = SimTime::from_ps(static_cast<int64_t>(std::ceil(end * 1e12 - 1e-6))) + fixed_latency;
  loads_.add(set, r);
  loads_.finish(topo_, r);
  if (r.max_link_utilization > 1.0 + 1e-9) throw std::logic_error("flow model charged a link above 100%");
  return r;
}

}  // namespace moesim
