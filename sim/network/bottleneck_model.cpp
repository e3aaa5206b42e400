#include "sim/network/bottleneck_model.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace moesim {

void LinkLoads::add(const FlowSet& set, CollectiveResult& r) {
  const Topology& topo = set.topology();
  make_room(set.num_links());
  for (const auto& f : set.flows()) {
    const double b = f.bytes * f.weight;
    count_flow(topo, f.src, f.dst, b, r);
    const int32_t* path = set.path(f);
    for (int32_t h = 0; h < f.hops; ++h) add_to_link(path[h], b);
  }
}

void LinkLoads::discard() {
  for (int32_t l : touched_) bytes_[static_cast<size_t>(l)] = 0;
  touched_.clear();
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

// A sink that does at once, per flow, what FlowSet::add then LinkLoads::add do: the same filter,
// the same latency, the same additions (a flow's weight is 1 until merged, and nothing merges here).
class BottleneckModel::StreamedFlows final : public FlowSink {
 public:
  StreamedFlows(const Topology& topo, LinkLoads& loads, CollectiveResult& r) : topo_(topo), kernel_links_(topo), loads_(loads), r_(r) {
    loads_.make_room(topo.num_links());
  }
  using FlowSink::add;
  void add(const Route& route, int64_t src, int64_t dst, double bytes, int32_t kernel_link) override {
    if ((route.empty() && kernel_link < 0) || !(bytes > 0)) return;
    const double b = bytes * 1.0;  // FlowSet's weight
    loads_.count_flow(topo_, static_cast<int32_t>(src), static_cast<int32_t>(dst), b, r_);
    SimTime latency;  // Topology::latency_of, summed on the way
    for (int32_t link : route) {
      latency += topo_.link_latency(link);
      loads_.add_to_link(link, b);
    }
    max_latency_ = max(max_latency_, latency);
    if (kernel_link >= 0) loads_.add_to_link(kernel_link, b);
  }
  int32_t add_kernel_link(const char* role, int64_t device, int64_t peer, double capacity_Bps) override {
    const int32_t id = kernel_links_.add_kernel_link(role, device, peer, capacity_Bps);
    loads_.make_room(kernel_links_.num_links());
    return id;
  }
  void reserve(size_t /*flows*/, size_t /*links*/) override {}
  const FlowSet& links() const { return kernel_links_; }  // the topology's and the kernel links (no flows)
  SimTime max_latency() const { return max_latency_; }

 private:
  const Topology& topo_;
  FlowSet kernel_links_;
  LinkLoads& loads_;
  CollectiveResult& r_;
  SimTime max_latency_;
};

CollectiveResult BottleneckModel::run_streamed(const std::function<void(FlowSink&)>& emit, SimTime fixed_latency) {
  CollectiveResult r;
  StreamedFlows sink(topo_, loads_, r);
  try {
    emit(sink);
  } catch (...) {
    loads_.discard();  // an algorithm that throws midway leaves this model as it found it
    throw;
  }
  if (r.flows == 0) return CollectiveResult();  // as run() for an empty set
  return finish(sink.links(), r, sink.max_latency(), fixed_latency);
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
