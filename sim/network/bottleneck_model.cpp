#include "sim/network/bottleneck_model.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace moesim {

void LinkLoads::add(const FlowSet& set, CollectiveResult& r) {
  const Topology& topo = set.topology();
  if (bytes_.size() < set.num_links()) bytes_.resize(set.num_links(), 0.0);
  for (const auto& f : set.flows()) {
    const double b = f.bytes * f.weight;
    ++r.flows;
    if (f.src == f.dst) {
      r.bytes_staged += b;
    } else {
      r.bytes_total += b;
      (topo.node_of(f.src) == topo.node_of(f.dst) ? r.bytes_intra_node : r.bytes_inter_node) += b;
    }
    const int32_t* path = set.path(f);
    for (int32_t h = 0; h < f.hops; ++h) {
      if (bytes_[path[h]] == 0) touched_.push_back(path[h]);
      bytes_[path[h]] += b;
    }
  }
}

double LinkLoads::busiest_seconds(const FlowSet& set) const {
  double worst = 0;
  for (int32_t l : touched_) worst = std::max(worst, bytes_[l] / set.capacity_Bps(l));
  return worst;
}

void LinkLoads::finish(const FlowSet& set, CollectiveResult& r) {
  double worst_s = -1;
  for (int32_t l : touched_) {
    const double s = bytes_[l] / set.capacity_Bps(l);
    if (s > worst_s || (s == worst_s && l < r.bottleneck_link)) {
      worst_s = s;
      r.bottleneck_link = l;
      r.bottleneck_link_bytes = bytes_[l];
    }
    const double utilization = r.duration.ps() > 0 ? bytes_[l] / (set.bandwidth_Bps(l) * r.duration.seconds()) : 0.0;
    r.max_link_utilization = std::max(r.max_link_utilization, utilization);
    if (!set.is_kernel_link(l)) {
      r.max_wire_utilization = std::max(r.max_wire_utilization, utilization);
      const auto& link = set.topology().link(l);
      if (link.from_device) r.bytes_egress += bytes_[l];
      if (link.to_device) r.bytes_ingress += bytes_[l];
    }
    bytes_[l] = 0;
  }
  if (r.bottleneck_link >= 0) {
    r.bottleneck_name = set.link_name(r.bottleneck_link);
    r.bottleneck_is_kernel = set.is_kernel_link(r.bottleneck_link);
  }
  touched_.clear();
}

CollectiveResult BottleneckModel::finish(const FlowSet& set, CollectiveResult& r, SimTime max_latency, SimTime fixed_latency) {
  // Round the transfer part up to a whole picosecond so that no link is charged above 100%.
  const SimTime transfer = SimTime::from_ps_truncated(std::ceil(loads_.busiest_seconds(set) * 1e12));
  r.duration = transfer + max_latency + fixed_latency;
  r.fixed_latency = fixed_latency;
  loads_.finish(set, r);
  if (r.max_link_utilization > 1.0 + 1e-9) throw std::logic_error("bottleneck model charged a link above 100%");
  return r;
}

CollectiveResult BottleneckModel::run(const FlowSet& set, SimTime fixed_latency) {
  CollectiveResult r;
  if (&set.topology() != &topo_) throw std::logic_error("bottleneck model: the flows are on another topology");
  if (set.size() == 0) return r;
  SimTime max_latency;
  for (const auto& f : set.flows()) max_latency = max(max_latency, f.latency);
  loads_.add(set, r);
  return finish(set, r, max_latency, fixed_latency);
}

}  // namespace moesim
