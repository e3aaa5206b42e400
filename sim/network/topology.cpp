#include "sim/network/topology.h"

#include <queue>
#include <stdexcept>

#include <fmt/format.h>

#include "sim/network/topology_registry.h"

namespace moesim {

Topology Topology::build(const TopologySpec& spec, const HardwareProfile& hw) {
  const auto* entry = topology_registry().find(spec.generator);
  if (!entry) throw std::invalid_argument("unknown topology generator " + spec.generator);
  if (spec.nodes < 1 || spec.devices_per_node < 1) throw std::invalid_argument("topology: nodes and devices_per_node must be at least 1");
  if (spec.nics_per_node < 0) throw std::invalid_argument("topology: nics_per_node must not be negative");
  if (!(spec.oversubscription >= 1.0)) throw std::invalid_argument("topology: oversubscription must be at least 1");
  if (spec.spines < 0 || spec.nodes_per_leaf < 0) throw std::invalid_argument("topology: spines and nodes_per_leaf must not be negative");
  return entry->factory(spec, hw);
}

size_t Topology::add_vertex(std::string name, int64_t node, bool is_device) {
  return boost::add_vertex(TopoVertex{std::move(name), node, is_device}, graph_);
}

int32_t Topology::add_link(size_t from, size_t to, double bandwidth, double efficiency, SimTime latency, LinkDomain domain) {
  if (frozen_) throw std::logic_error("topology is frozen");
  if (!(bandwidth > 0) || !(efficiency > 0) || efficiency > 1) throw std::invalid_argument("topology: link bandwidth must be positive and efficiency in (0, 1]");
  TopoLink l;
  l.id = static_cast<int32_t>(links_.size());
  l.bandwidth_Bps = bandwidth;
  l.efficiency = efficiency;
  l.latency = latency;
  l.domain = domain;
  l.from_device = graph_[from].is_device;
  l.to_device = graph_[to].is_device;
  l.from_vertex = static_cast<int32_t>(from);
  l.to_vertex = static_cast<int32_t>(to);
  l.name = graph_[from].name + "->" + graph_[to].name;
  links_.push_back(l);
  latency_ps_.push_back(latency.ps());
  boost::add_edge(from, to, l, graph_);
  return l.id;
}

void Topology::set_shape(std::string generator, int64_t devices, int64_t devices_per_node) {
  generator_ = std::move(generator);
  devices_ = devices;
  devices_per_node_ = devices_per_node;
  node_of_device_.resize(static_cast<size_t>(std::max<int64_t>(devices, 0)));
  for (size_t d = 0; d < node_of_device_.size(); ++d) node_of_device_[d] = static_cast<int32_t>(static_cast<int64_t>(d) / devices_per_node);
}

Route Topology::route(int64_t src, int64_t dst) const {
  if (!frozen_) throw std::logic_error("topology must be frozen before routes are read");
  return route_impl(src, dst);
}

Route Topology::scale_out_route(int64_t src, int64_t dst) const {
  if (!frozen_) throw std::logic_error("topology must be frozen before routes are read");
  return scale_out_impl(src, dst);
}

Route Topology::route_impl(int64_t src, int64_t dst) const {
  Route r;
  if (src == dst) return r;
  if (node_of(src) != node_of(dst)) return scale_out_impl(src, dst);
  const auto& t = tables_;
  if (!t.mesh.empty()) {
    r.push(t.mesh[static_cast<size_t>(src * devices_per_node_ + local_index(dst))]);
  } else {
    r.push(t.up[static_cast<size_t>(src)]);
    r.push(t.down[static_cast<size_t>(dst)]);
  }
  return r;
}

Route Topology::scale_out_impl(int64_t src, int64_t dst) const {
  Route r;
  if (src == dst) return r;
  const auto& t = tables_;
  if (t.port_of.empty()) throw std::logic_error("topology has no scale-out network");
  const int32_t ps = t.port_of[static_cast<size_t>(src)], pd = t.port_of[static_cast<size_t>(dst)];
  r.push(t.dev_to_port[static_cast<size_t>(src)]);
  if (ps != pd) {
    r.push(t.port_up[static_cast<size_t>(ps)]);
    const int32_t ls = t.leaf_of[static_cast<size_t>(ps)], ld = t.leaf_of[static_cast<size_t>(pd)];
    if (ls != ld) {
      // Destination-mod-k: the spine is chosen by the destination port's place under its leaf, so a
      // leaf's downlinks from the spines each serve an equal share of its ports.
      const int32_t k = t.slot_in_leaf[static_cast<size_t>(pd)] % t.spines;
      r.push(t.leaf_to_spine[static_cast<size_t>(ls) * static_cast<size_t>(t.spines) + static_cast<size_t>(k)]);
      r.push(t.spine_to_leaf[static_cast<size_t>(k) * static_cast<size_t>(t.leaves) + static_cast<size_t>(ld)]);
    }
    r.push(t.port_down[static_cast<size_t>(pd)]);
  }
  r.push(t.port_to_dev[static_cast<size_t>(dst)]);
  return r;
}

Route Topology::staging_route(int64_t device) const {
  Route r;
  const auto& t = tables_;
  if (!t.loopback.empty()) {
    r.push(t.loopback[static_cast<size_t>(device)]);
  } else {
    r.push(t.up[static_cast<size_t>(device)]);
    r.push(t.down[static_cast<size_t>(device)]);
  }
  return r;
}

double Topology::scale_up_Bps(int64_t device) const {
  const auto& t = tables_;
  const auto d = static_cast<size_t>(device);
  if (d < t.up.size() && t.up[d] >= 0) return link(t.up[d]).bandwidth_Bps;
  if (d < t.loopback.size() && t.loopback[d] >= 0) return link(t.loopback[d]).bandwidth_Bps;
  return link(t.dev_to_port[d]).bandwidth_Bps;
}

void Topology::check_route(int64_t src, int64_t dst, const Route& r, const std::vector<int32_t>& hops) const {
  auto fail = [&](const char* what) { throw std::logic_error(fmt::format("topology {}: route gpu{} -> gpu{} {}", generator_, src, dst, what)); };
  if (r.empty()) fail("is empty");
  if (links_[static_cast<size_t>(r[0])].from_vertex != src) fail("does not start at the source");
  for (int i = 1; i < r.size(); ++i)
    if (links_[static_cast<size_t>(r[i])].from_vertex != links_[static_cast<size_t>(r[i - 1])].to_vertex) fail("is not a path");
  if (links_[static_cast<size_t>(r[r.size() - 1])].to_vertex != dst) fail("does not end at the destination");
  if (!hops.empty() && r.size() != hops[static_cast<size_t>(dst)]) fail("is not a fewest-hop path");
}

void Topology::freeze() {
  if (frozen_) return;
  const auto D = static_cast<size_t>(devices_);
  const auto& t = tables_;
  const bool mesh = !t.mesh.empty();
  if (devices_ < 1 || static_cast<int64_t>(boost::num_vertices(graph_)) < devices_) throw std::logic_error("topology: devices missing");
  if (mesh ? (t.mesh.size() != D * static_cast<size_t>(devices_per_node_) || t.loopback.size() != D) : (t.up.size() != D || t.down.size() != D))
    throw std::logic_error("topology: scale-up route tables incomplete");
  if (!t.port_of.empty() && (t.port_of.size() != D || t.dev_to_port.size() != D || t.port_to_dev.size() != D))
    throw std::logic_error("topology: scale-out route tables incomplete");
  // Check the computed routes against breadth-first search on the graph (devices do not forward):
  // every source up to 256 devices, else 16 spread-out sources, each against every destination.
  const size_t nv = boost::num_vertices(graph_);
  const size_t sources = D <= 256 ? D : 16;
  std::vector<int32_t> hops(nv);
  for (size_t i = 0; i < sources; ++i) {
    const size_t s = D <= 256 ? i : (i * D) / sources + i % 7;
    std::fill(hops.begin(), hops.end(), -1);
    std::queue<size_t> q;
    q.push(s);
    hops[s] = 0;
    while (!q.empty()) {
      const size_t u = q.front();
      q.pop();
      if (u != s && graph_[u].is_device) continue;
      for (auto [e, end] = boost::out_edges(u, graph_); e != end; ++e) {
        const size_t v = boost::target(*e, graph_);
        if (hops[v] >= 0) continue;
        hops[v] = hops[u] + 1;
        q.push(v);
      }
    }
    for (size_t d = 0; d < D; ++d) {
      if (d == s) continue;
      if (hops[d] < 0) throw std::logic_error(fmt::format("topology: no route from gpu{} to gpu{}", s, d));
      check_route(static_cast<int64_t>(s), static_cast<int64_t>(d), route_impl(static_cast<int64_t>(s), static_cast<int64_t>(d)), hops);
      if (!t.port_of.empty()) check_route(static_cast<int64_t>(s), static_cast<int64_t>(d), scale_out_impl(static_cast<int64_t>(s), static_cast<int64_t>(d)), {});
    }
  }
  frozen_ = true;
}

}  // namespace moesim
