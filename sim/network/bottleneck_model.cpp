#include "sim/network/bottleneck_model.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace moesim {

void LinkLoads::add(const Topology& topo, const int32_t* path, int32_t hops, int64_t src, int64_t dst, double b, CollectiveResult& r) {
  if (bytes_.size() != topo.num_links()) bytes_.assign(topo.num_links(), 0.0);
  ++r.flows;
  if (src == dst) {
    r.bytes_staged += b;
  } else {
    r.bytes_total += b;
    (topo.node_of(src) == topo.node_of(dst) ? r.bytes_intra_node : r.bytes_inter_node) += b;
  }
  for (int32_t h = 0; h < hops; ++h) {
    if (bytes_[path[h]] == 0) touched_.push_back(path[h]);
    bytes_[path[h]] += b;
  }
}

void LinkLoads::add(const FlowSet& set, CollectiveResult& r) {
  for (const auto& f : set.flows()) add(set.topology(), set.path(f), f.hops, f.src, f.dst, f.bytes * f.weight, r);
}

double LinkLoads::busiest_seconds(const Topology& topo) const {
  double worst = 0;
  for (int32_t l : touched_) worst = std::max(worst, bytes_[l] / (topo.link(l).bandwidth_Bps * topo.link(l).efficiency));
  return worst;
}

void LinkLoads::finish(const Topology& topo, CollectiveResult& r) {
  double worst_s = -1;
  for (int32_t l : touched_) {
    const auto& link = topo.link(l);
    const double s = bytes_[l] / (link.bandwidth_Bps * link.efficiency);
    if (s > worst_s || (s == worst_s && l < r.bottleneck_link)) {
      worst_s = s;
      r.bottleneck_link = l;
      r.bottleneck_link_bytes = bytes_[l];
    }
    if (r.duration.ps() > 0) r.max_link_utilization = std::max(r.max_link_utilization, bytes_[l] / (link.bandwidth_Bps * r.duration.seconds()));
    if (link.from_device) r.bytes_egress += bytes_[l];
    if (link.to_device) r.bytes_ingress += bytes_[l];
    bytes_[l] = 0;
  }
  touched_.clear();
}

CollectiveResult BottleneckModel::finish(CollectiveResult& r, SimTime max_latency, SimTime fixed_latency) {
  // Round the transfer part up to a whole picosecond so that no link is charged above 100%.
  const SimTime transfer = SimTime::from_ps(static_cast<int64_t>(std::ceil(loads_.busiest_seconds(topo_) * 1e12)));
  r.duration = transfer + max_latency + fixed_latency;
  loads_.finish(topo_, r);
  if (r.max_link_utilization > 1.0 + 1e-9) throw std::logic_error("bottleneck model charged a link above 100%");
  return r;
}

CollectiveResult BottleneckModel::run(const FlowSet& set, SimTime fixed_latency) {
  CollectiveResult r;
  if (set.size() == 0) return r;
  SimTime max_latency;
  for (const auto& f : set.flows()) max_latency = max(max_latency, f.latency);
  loads_.add(set, r);
  return finish(r, max_latency, fixed_latency);
}

}  // namespace moesim
