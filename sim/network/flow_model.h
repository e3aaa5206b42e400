// Flow-level bandwidth sharing: the flows of a collective share every link they cross by max-min
// fairness, computed by progressive filling (Bertsekas & Gallager, "Data Networks", Sec. 6.5.2;
// the fluid max-min sharing that SimGrid's network models solve, without their TCP-window and
// latency corrections). Rates are
// recomputed whenever flows finish, so a flow that ends early frees its share for the others, and
// incast, congestion and oversubscribed uplinks show. All flows start with the collective; a flow
// is done when its last byte has left plus its route latency; the collective is done when every
// flow is, plus a fixed software latency.
//
// Completions are processed in batches: every flow due within `completion_tolerance` x (time so
// far) of the next completion finishes in the same step, and its bandwidth is not handed to the
// others before the step ends. That bounds the number of rate recomputations (about
// ln(last/first completion) / tolerance) at the cost of at most that relative delay, always late,
// never early; 0 is exact.
#pragma once
#include <vector>

#include "sim/network/bottleneck_model.h"
#include "sim/network/flow_set.h"

namespace moesim {

struct FlowModelOptions {
  double completion_tolerance = 1e-3;
};

class FlowModel {
 public:
  explicit FlowModel(const Topology& topology, FlowModelOptions options = {});
  CollectiveResult run(const FlowSet& flows, SimTime fixed_latency);

 private:
  void solve_rates();

  const Topology& topo_;
  FlowModelOptions opt_;
  // Per run: the merged flows and their links.
  std::vector<Flow> flows_;
  std::vector<int32_t> path_;          // concatenated flow paths (indices into the used links)
  std::vector<int64_t> flow_first_;    // [flow] first entry in path_
  std::vector<int32_t> link_id_;       // [used link] topology link id
  std::vector<double> capacity_;       // [used link] bandwidth x efficiency, bytes/s
  std::vector<int64_t> link_first_;    // [used link] first entry in link_flows_
  std::vector<int32_t> link_flows_;    // flows crossing each used link
  std::vector<double> active_weight_;  // [used link] weight of unfinished flows
  std::vector<double> remaining_, rate_, weight_;
  enum : uint8_t { kFinished, kUnfrozen, kFrozen };
  std::vector<uint8_t> state_;         // [flow]
  std::vector<int32_t> live_;          // unfinished flows
  struct LinkState {
    double rem;       // capacity not yet given to frozen flows
    double unfrozen;  // weight of unfinished flows not yet frozen
  };
  std::vector<LinkState> links_;
  LinkLoads loads_;
};

}  // namespace moesim
