#include "sim/network/bottleneck_model.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace moesim {

CollectiveResult BottleneckModel::run(const std::vector<Transfer>& transfers, SimTime fixed_latency) {
  CollectiveResult r;
  if (transfers.empty()) return r;
  SimTime max_latency;
  for (const auto& t : transfers) {
    r.bytes_total += t.bytes;
    (topo_.node_of(t.src) == topo_.node_of(t.dst) ? r.bytes_intra_node : r.bytes_inter_node) += t.bytes;
    auto [first, last] = topo_.route(t.src, t.dst);
    for (const int32_t* l = first; l != last; ++l) {
      if (link_bytes_[*l] == 0) touched_.push_back(*l);
      link_bytes_[*l] += t.bytes;
    }
    max_latency = max(max_latency, topo_.route_latency(t.src, t.dst));
  }
  double worst_s = 0;
  for (int32_t l : touched_) {
    const auto& link = topo_.link(l);
    const double s = link_bytes_[l] / (link.bandwidth_Bps * link.efficiency);
    if (s > worst_s || (s == worst_s && l < r.bottleneck_link)) {
      worst_s = s;
      r.bottleneck_link = l;
      r.bottleneck_link_bytes = link_bytes_[l];
    }
  }
  // Round the transfer part up to a whole picosecond so that no link is charged above 100%.
  const SimTime transfer = SimTime::from_ps(static_cast<int64_t>(std::ceil(worst_s * 1e12)));
  r.duration = transfer + max_latency + fixed_latency;
  for (int32_t l : touched_) {
    const auto& link = topo_.link(l);
    const double u = link_bytes_[l] / (link.bandwidth_Bps * r.duration.seconds());
    r.max_link_utilization = std::max(r.max_link_utilization, u);
    if (link.from_device) r.bytes_egress += link_bytes_[l];
    if (link.to_device) r.bytes_ingress += link_bytes_[l];
    link_bytes_[l] = 0;
  }
  touched_.clear();
  if (r.max_link_utilization > 1.0 + 1e-9) throw std::logic_error("bottleneck model charged a link above 100%");
  return r;
}

}  // namespace moesim
