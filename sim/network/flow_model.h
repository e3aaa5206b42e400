// Flow-level bandwidth sharing: the flows of a collective share every link they cross by max-min
// fairness, computed by progressive filling (Bertsekas & Gallager, "Data Networks", Sec. 6.5.2;
// the fluid max-min sharing that SimGrid's network models solve, without their TCP-window and
// latency corrections). Rates are recomputed whenever flows finish, so a flow that ends early
// frees its share for the others, and incast, congestion and oversubscribed uplinks show. All
// flows start with the collective; a flow is done when its last byte has left plus its route
// latency; the collective is done when every flow is, plus a fixed software latency.
//
// Completions are processed in batches: every flow due within `completion_tolerance` x (time so
// far) of the next completion finishes in the same step, and its bandwidth is not handed to the
// others before the step ends. That bounds the number of rate recomputations (about
// ln(last/first completion) / tolerance) at the cost of at most that relative delay, always late,
// never early; 0 is exact.
//
// Speed (a million flows, a thousand rate updates: docs/comm-validation.md, "Scale"). A link that
// carries exactly the flows of another link of no more capacity never binds alone, so it is
// dropped once per run (exact: the max-min rates depend only on the set of constraints). Links
// fall into components joined by flows (an EP group's NICs, a node's NVLink ports); only those in
// which a flow finished are filled again. Each link lists its unfinished flows as inline records
// {weight, other links}, so filling a link reads memory in order and needs no per-flow state: a
// flow is frozen once one of its links is filled, and its rate is the share of the first of them.
// The next link to fill comes from a tournament tree of lower-bound keys. One pass over the flows
// per update advances them and finds the next completions, dividing only where a flow may be due
// within the window. The arithmetic is the straightforward implementation's, in the same order,
// so the answers do not change.
#pragma once
#include <cstdint>
#include <utility>
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
  static constexpr int32_t kUnfilled = INT32_MAX;  // rank of a link not filled (yet)
  struct LinkState {
    double rem;        // capacity not yet given to frozen flows
    int64_t unfrozen;  // weight of unfinished flows not yet frozen
  };
  struct Due {
    size_t slot;  // in live_id_
    double s;     // time to finish at the current rates
  };
  struct TreeNode {
    uint64_t key;  // bits of a non-negative double: they compare as the values do
    int32_t link;
  };

  void setup(const FlowSet& set);  // links (pruned), flow routes and weights
  void find_components();          // of the links, joined by flows
  void finish(size_t slot);        // the slot's flow is done
  void compact();                  // drops finished flows; rebuilds the links' records
  void solve_rates();              // fills rank_ and share_Bps_
  void update_tree(int32_t link, uint64_t key);  // gives the link a new key
  // The hot loops, for routes of H kept links.
  template <int H, bool Weighted>
  int64_t freeze_flows_of(int32_t link, double share_Bps);  // returns the weight frozen
  template <int H>
  double scan_live(double now, double step, bool advance, std::vector<Due>& due_soon);

  const Topology& topo_;
  FlowModelOptions opt_;
  // Links: the kept ones numbered 0..L-1 in order of first use; link L pads routes shorter than
  // hops_ (charged, never filled, never read).
  std::vector<double> capacity_Bps_;    // [link] bandwidth x efficiency
  std::vector<int64_t> active_weight_;  // [link] weight of unfinished flows
  int hops_ = 0;                        // longest route over kept links
  std::vector<int32_t> weight_;         // [flow] identical flows merged into it
  std::vector<double> latency_s_;       // [flow]
  // Unfinished flows in slots, in flow order: flow index (-1 once finished), kept links (hops_
  // each, padded), bytes left as of the previous rate update (+inf once finished) and the rate
  // of the last filling. compact() drops finished slots.
  std::vector<int32_t> live_id_, live_links_;
  std::vector<double> remaining_, rate_Bps_;
  int64_t live_weight_ = 0;  // total weight of unfinished flows
  // Connected components of the links: only those in which a flow finished are filled again.
  std::vector<int32_t> component_of_;      // [link]
  std::vector<int64_t> component_weight_;  // [component] weight of its unfinished flows
  std::vector<char> changed_;              // [component] a flow finished since the last filling
  // Per link, a record {weight (if weighted_), the flow's other links} (record_ints_ ints) per
  // unfinished flow, in flow order; a finished flow's record has weight 0 (or points at link
  // L + 1, always filled) until compact().
  bool weighted_ = true;
  size_t record_ints_ = 1;
  std::vector<int32_t> records_;
  std::vector<int64_t> link_first_;  // [link] its first record
  std::vector<int64_t> record_of_;   // [slot * hops_ + k] the slot's record in its k-th link's list
  int64_t dead_records_ = 0;
  // Filling: the order in which links were filled (rank) and the rate each gave its flows. A
  // flow's rate is the share of its lowest-ranked link.
  std::vector<int32_t> rank_;
  std::vector<double> share_Bps_;
  std::vector<LinkState> links_;
  // A tournament tree picks the link of least key (a lower bound on its share; +inf once filled
  // or empty): tree_[1] is the winner, tree_[n] the winner below node n, leaves at
  // tree_leaves_ + link.
  size_t tree_leaves_ = 1;
  std::vector<TreeNode> tree_;
  LinkLoads loads_;
};

}  // namespace moesim
