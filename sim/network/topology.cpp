#include "sim/network/topology.h"

#include <queue>
#include <stdexcept>

#include <fmt/format.h>

namespace moesim {

void Topology::add_link(size_t from, size_t to, double bandwidth, double efficiency, SimTime latency, LinkDomain domain) {
  TopoLink l;
  l.id = static_cast<int32_t>(links_.size());
  l.bandwidth_Bps = bandwidth;
  l.efficiency = efficiency;
  l.latency = latency;
  l.domain = domain;
  l.from_device = graph_[from].is_device;
  l.to_device = graph_[to].is_device;
  l.name = graph_[from].name + "->" + graph_[to].name;
  links_.push_back(l);
  boost::add_edge(from, to, l, graph_);
}

Topology Topology::build(const ClusterConfig& c, const HardwareProfile& hw) {
  if (c.topology != "nvswitch-fat-tree") throw std::invalid_argument("unknown topology generator " + c.topology);
  Topology t;
  t.devices_ = c.devices();
  t.devices_per_node_ = c.devices_per_node;
  for (int64_t d = 0; d < t.devices_; ++d)
    boost::add_vertex(TopoVertex{fmt::format("gpu{}", d), d / c.devices_per_node, true}, t.graph_);
  const auto& up = hw.intra_node;
  const auto& out = hw.inter_node;
  const SimTime half_up = SimTime::from_ps(up.latency.ps() / 2);
  // A route's latency is the profile's one-way latency: split over the hops that carry it.
  const SimTime half_out = SimTime::from_ps(out.latency.ps() / 2);
  size_t fabric = 0;
  if (c.nodes > 1) fabric = boost::add_vertex(TopoVertex{"fabric", -1, false}, t.graph_);
  for (int64_t n = 0; n < c.nodes; ++n) {
    const size_t sw = boost::add_vertex(TopoVertex{fmt::format("node{}/switch", n), n, false}, t.graph_);
    for (int64_t i = 0; i < c.devices_per_node; ++i) {
      const size_t d = static_cast<size_t>(n * c.devices_per_node + i);
      t.add_link(d, sw, up.bandwidth_Bps, up.efficiency, half_up, LinkDomain::ScaleUp);
      t.add_link(sw, d, up.bandwidth_Bps, up.efficiency, half_up, LinkDomain::ScaleUp);
    }
    if (c.nodes == 1) continue;
    // NICs: with at least one NIC per device, each device's NICs act as one port of their summed
    // bandwidth; with fewer, devices of a rail group share one NIC.
    const int64_t nic_ports = std::min(c.nics_per_node, c.devices_per_node);
    const double port_bw = out.bandwidth_Bps * static_cast<double>(c.nics_per_node) / static_cast<double>(nic_ports);
    for (int64_t p = 0; p < nic_ports; ++p) {
      const size_t nic = boost::add_vertex(TopoVertex{fmt::format("node{}/nic{}", n, p), n, false}, t.graph_);
      t.add_link(nic, fabric, port_bw, out.efficiency, half_out, LinkDomain::ScaleOut);
      t.add_link(fabric, nic, port_bw, out.efficiency, half_out, LinkDomain::ScaleOut);
      const int64_t share = c.devices_per_node / nic_ports;
      for (int64_t i = p * share; i < (p + 1) * share; ++i) {
        const size_t d = static_cast<size_t>(n * c.devices_per_node + i);
        t.add_link(d, nic, port_bw, out.efficiency, SimTime(), LinkDomain::ScaleOut);
        t.add_link(nic, d, port_bw, out.efficiency, SimTime(), LinkDomain::ScaleOut);
      }
    }
  }
  return t;
}

void Topology::freeze() {
  if (frozen_) return;
  const size_t nv = boost::num_vertices(graph_);
  const auto D = static_cast<size_t>(devices_);
  route_offset_.assign(D * D + 1, 0);
  route_latency_ps_.assign(D * D, 0);
  std::vector<int32_t> pred_link(nv);
  std::vector<int64_t> pred_vertex(nv);
  std::vector<int32_t> path;
  for (size_t s = 0; s < D; ++s) {
    std::fill(pred_vertex.begin(), pred_vertex.end(), -1);
    std::queue<size_t> q;
    q.push(s);
    pred_vertex[s] = static_cast<int64_t>(s);
    while (!q.empty()) {
      const size_t u = q.front();
      q.pop();
      // Devices other than the source do not forward traffic in this generator.
      if (u != s && graph_[u].is_device) continue;
      for (auto [e, end] = boost::out_edges(u, graph_); e != end; ++e) {
        const size_t v = boost::target(*e, graph_);
        if (pred_vertex[v] >= 0) continue;
        pred_vertex[v] = static_cast<int64_t>(u);
        pred_link[v] = graph_[*e].id;
        q.push(v);
      }
    }
    for (size_t d = 0; d < D; ++d) {
      route_offset_[s * D + d] = static_cast<int64_t>(route_links_.size());
      if (d == s) continue;
      if (pred_vertex[d] < 0) throw std::logic_error(fmt::format("topology: no route from gpu{} to gpu{}", s, d));
      path.clear();
      int64_t lat = 0;
      for (size_t v = d; v != s; v = static_cast<size_t>(pred_vertex[v])) {
        path.push_back(pred_link[v]);
        lat += links_[pred_link[v]].latency.ps();
      }
      route_links_.insert(route_links_.end(), path.rbegin(), path.rend());
      route_latency_ps_[s * D + d] = lat;
    }
  }
  route_offset_[D * D] = static_cast<int64_t>(route_links_.size());
  frozen_ = true;
}

std::pair<const int32_t*, const int32_t*> Topology::route(int64_t src, int64_t dst) const {
  if (!frozen_) throw std::logic_error("topology must be frozen before routes are read");
  const size_t i = static_cast<size_t>(src * devices_ + dst);
  return {route_links_.data() + route_offset_[i], route_links_.data() + route_offset_[i + 1]};
}

SimTime Topology::route_latency(int64_t src, int64_t dst) const {
  return SimTime::from_ps(route_latency_ps_[static_cast<size_t>(src * devices_ + dst)]);
}

}  // namespace moesim
