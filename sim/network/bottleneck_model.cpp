#include "sim/network/bottleneck_model.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace moesim {

void account_links(const FlowSet& set, CollectiveResult& r, std::vector<double>& link_bytes, std::vector<int32_t>& touched) {
  const Topology& topo = set.topology();
  r.flows = static_cast<int64_t>(set.size());
  for (const auto& f : set.flows()) {
    const double b = f.bytes * f.weight;
    if (f.src == f.dst) {
      r.bytes_staged += b;
    } else {
      r.bytes_total += b;
      (topo.node_of(f.src) == topo.node_of(f.dst) ? r.bytes_intra_node : r.bytes_inter_node) += b;
    }
    const int32_t* p = set.path(f);
    for (int32_t h = 0; h < f.hops; ++h) {
      if (link_bytes[p[h]] == 0) touched.push_back(p[h]);
      link_bytes[p[h]] += b;
    }
  }
  double worst_s = -1;
  for (int32_t l : touched) {
    const auto& link = topo.link(l);
    const double s = link_bytes[l] / (link.bandwidth_Bps * link.efficiency);
    if (s > worst_s || (s == worst_s && l < r.bottleneck_link)) {
      worst_s = s;
      r.bottleneck_link = l;
      r.bottleneck_link_bytes = link_bytes[l];
    }
  }
  for (int32_t l : touched) {
    const auto& link = topo.link(l);
    if (r.duration.ps() > 0) r.max_link_utilization = std::max(r.max_link_utilization, link_bytes[l] / (link.bandwidth_Bps * r.duration.seconds()));
    if (link.from_device) r.bytes_egress += link_bytes[l];
    if (link.to_device) r.bytes_ingress += link_bytes[l];
    link_bytes[l] = 0;
  }
  touched.clear();
}

CollectiveResult BottleneckModel::run(const std::vector<Transfer>& transfers, SimTime fixed_latency) {
  FlowSet set(topo_);
  for (const auto& t : transfers) set.add(topo_.route(t.src, t.dst), t.src, t.dst, t.bytes);
  return run(set, fixed_latency);
}

CollectiveResult BottleneckModel::run(const FlowSet& set, SimTime fixed_latency) {
  CollectiveResult r;
  if (set.size() == 0) return r;
  SimTime max_latency;
  for (const auto& f : set.flows()) {
    max_latency = max(max_latency, f.latency);
    const int32_t* p = set.path(f);
    for (int32_t h = 0; h < f.hops; ++h) {
      if (link_bytes_[p[h]] == 0) touched_.push_back(p[h]);
      link_bytes_[p[h]] += f.bytes * f.weight;
    }
  }
  double worst_s = 0;
  for (int32_t l : touched_) {
    const auto& link = topo_.link(l);
    worst_s = std::max(worst_s, link_bytes_[l] / (link.bandwidth_Bps * link.efficiency));
    link_bytes_[l] = 0;
  }
  touched_.clear();
  // Round the transfer part up to a whole picosecond so that no link is charged above 100%.
  const SimTime transfer = SimTime::from_ps(static_cast<int64_t>(std::ceil(worst_s * 1e12)));
  r.duration = transfer + max_latency + fixed_latency;
  account_links(set, r, link_bytes_, touched_);
  if (r.max_link_utilization > 1.0 + 1e-9) throw std::logic_error("bottleneck model charged a link above 100%");
  return r;
}

}  // namespace moesim
