// A collective as concurrent flows with explicit routes: what an all-to-all algorithm hands to a
// network model (per-port bottleneck or flow-level max-min). A flow is a byte count on a path of
// links from a source to a destination device, starting when the collective starts; `weight`
// counts identical flows (same path, same bytes) merged into one.
#pragma once
#include <cstdint>
#include <vector>

#include "sim/network/topology.h"

namespace moesim {

struct Flow {
  int64_t first_link = 0;   // into FlowSet::links
  int32_t hops = 0;
  int32_t src = 0, dst = 0; // devices (for intra/inter-node byte accounting)
  double bytes = 0;
  SimTime latency;          // the route's latency, added once the last byte has left
  double weight = 1.0;
};

class FlowSet {
 public:
  explicit FlowSet(const Topology& topology) : topo_(&topology) {}
  // Adds `bytes` from src to dst along `route`; nothing for an empty route or no bytes.
  void add(const Route& route, int64_t src, int64_t dst, double bytes);
  const Topology& topology() const { return *topo_; }
  const std::vector<Flow>& flows() const { return flows_; }
  const int32_t* path(const Flow& f) const { return links_.data() + f.first_link; }
  size_t size() const { return flows_.size(); }
  void clear() { flows_.clear(), links_.clear(); }
  double bytes_total() const;
  // Merges flows with identical paths and byte counts into one of summed weight. Max-min gives
  // such flows equal rates at every instant, so the answer is unchanged; order is kept.
  void merge_identical();
  bool has_identical() const { return find_identical(nullptr); }  // would merge_identical() merge any?

 private:
  // Sets first_of[i] to the first flow identical to flow i (-1 if none); true if any is.
  bool find_identical(std::vector<int64_t>* first_of) const;
  const Topology* topo_;
  std::vector<Flow> flows_;
  std::vector<int32_t> links_;
};

}  // namespace moesim
