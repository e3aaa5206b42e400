#include "sim/network/topology_parts.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace moesim {

void add_device_vertices(Topology& t, const TopologySpec& spec) {
  const int64_t D = spec.devices();
  t.set_shape(spec.generator, D, spec.devices_per_node);
  for (int64_t d = 0; d < D; ++d) t.add_vertex(fmt::format("gpu{}", d), d / spec.devices_per_node, true);
  auto& tb = t.tables();
  tb.port_of.assign(static_cast<size_t>(D), -1);
  tb.dev_to_port.assign(static_cast<size_t>(D), -1);
  tb.port_to_dev.assign(static_cast<size_t>(D), -1);
}

void add_switch_scale_up(Topology& t, const TopologySpec& spec, const HardwareProfile& hw, int64_t node) {
  const auto& up = hw.intra_node;
  const SimTime half = SimTime::from_ps(up.latency.ps() / 2);
  auto& tb = t.tables();
  const auto D = static_cast<size_t>(spec.devices());
  if (tb.up.size() != D) tb.up.assign(D, -1), tb.down.assign(D, -1);
  const size_t sw = t.add_vertex(fmt::format("node{}/switch", node), node, false);
  for (int64_t i = 0; i < spec.devices_per_node; ++i) {
    const auto d = static_cast<size_t>(node * spec.devices_per_node + i);
    tb.up[d] = t.add_link(d, sw, up.bandwidth_Bps, up.efficiency, half, LinkDomain::ScaleUp);
    tb.down[d] = t.add_link(sw, d, up.bandwidth_Bps, up.efficiency, half, LinkDomain::ScaleUp);
  }
}

void add_mesh_scale_up(Topology& t, const TopologySpec& spec, const HardwareProfile& hw, int64_t node, double peer_bw) {
  const auto& up = hw.intra_node;
  const int64_t G = spec.devices_per_node;
  auto& tb = t.tables();
  const auto D = static_cast<size_t>(spec.devices());
  if (tb.mesh.size() != D * static_cast<size_t>(G)) tb.mesh.assign(D * static_cast<size_t>(G), -1), tb.loopback.assign(D, -1);
  for (int64_t i = 0; i < G; ++i) {
    const auto d = static_cast<size_t>(node * G + i);
    for (int64_t j = 0; j < G; ++j) {
      if (j == i) continue;
      tb.mesh[d * static_cast<size_t>(G) + static_cast<size_t>(j)] =
          t.add_link(d, static_cast<size_t>(node * G + j), peer_bw, up.efficiency, up.latency, LinkDomain::ScaleUp);
    }
    tb.loopback[d] = t.add_link(d, d, up.bandwidth_Bps, up.efficiency, SimTime(), LinkDomain::ScaleUp);
  }
}

void add_leaves(Topology& t, const LeafPlan& plan) {
  auto& tb = t.tables();
  tb.leaves = plan.leaves;
  tb.leaf_vertex.clear();
  for (int32_t l = 0; l < plan.leaves; ++l)
    tb.leaf_vertex.push_back(static_cast<int32_t>(t.add_vertex(plan.leaves == 1 ? std::string("fabric") : plan.name(l), -1, false)));
}

void add_nic_ports(Topology& t, const TopologySpec& spec, const HardwareProfile& hw, int64_t node, const LeafPlan& plan) {
  const auto& out = hw.inter_node;
  const SimTime half = SimTime::from_ps(out.latency.ps() / 2);
  const int64_t G = spec.devices_per_node, nics = spec.nics();
  const int64_t ports = std::min(nics, G);
  if (G % ports != 0) throw std::invalid_argument(fmt::format("topology: {} devices per node cannot share {} NICs evenly", G, nics));
  const double port_bw = out.bandwidth_Bps * static_cast<double>(nics) / static_cast<double>(ports);
  auto& tb = t.tables();
  for (int64_t p = 0; p < ports; ++p) {
    const auto gp = static_cast<size_t>(node * ports + p);
    if (tb.port_up.size() <= gp) {
      tb.port_up.resize(gp + 1, -1), tb.port_down.resize(gp + 1, -1);
      tb.leaf_of.resize(gp + 1, -1), tb.slot_in_leaf.resize(gp + 1, -1);
    }
    const size_t nic = t.add_vertex(fmt::format("node{}/nic{}", node, p), node, false);
    const int32_t leaf = plan.leaves == 1 ? 0 : plan.leaf_of(node, p);
    const auto lv = static_cast<size_t>(tb.leaf_vertex.at(static_cast<size_t>(leaf)));
    tb.leaf_of[gp] = leaf;
    tb.slot_in_leaf[gp] = plan.leaves == 1 ? static_cast<int32_t>(gp) : plan.slot_of(node, p);
    tb.port_up[gp] = t.add_link(nic, lv, port_bw, out.efficiency, half, LinkDomain::ScaleOut);
    tb.port_down[gp] = t.add_link(lv, nic, port_bw, out.efficiency, half, LinkDomain::ScaleOut);
    const int64_t share = G / ports;
    for (int64_t i = p * share; i < (p + 1) * share; ++i) {
      const auto d = static_cast<size_t>(node * G + i);
      tb.port_of[d] = static_cast<int32_t>(gp);
      tb.dev_to_port[d] = t.add_link(d, nic, port_bw, out.efficiency, SimTime(), LinkDomain::ScaleOut);
      tb.port_to_dev[d] = t.add_link(nic, d, port_bw, out.efficiency, SimTime(), LinkDomain::ScaleOut);
    }
  }
}

void add_spines(Topology& t, const TopologySpec& spec, const HardwareProfile& hw, const LeafPlan& plan, int32_t spines) {
  auto& tb = t.tables();
  if (plan.leaves <= 1) return;
  const auto& out = hw.inter_node;
  // A leaf's downlink bandwidth: its ports (port_up links point at the leaf).
  std::vector<double> down_bw(static_cast<size_t>(plan.leaves), 0.0);
  std::vector<int64_t> ports(static_cast<size_t>(plan.leaves), 0);
  for (size_t p = 0; p < tb.port_up.size(); ++p) {
    down_bw[static_cast<size_t>(tb.leaf_of[p])] += t.link(tb.port_up[p]).bandwidth_Bps;
    ++ports[static_cast<size_t>(tb.leaf_of[p])];
  }
  // Destination-mod-k picks spine (port's place under its leaf) mod spines: spines beyond the
  // largest leaf's port count would carry nothing while taking a share of the uplink bandwidth.
  const int64_t max_ports = *std::max_element(ports.begin(), ports.end());
  if (spines == 0) spines = static_cast<int32_t>(std::min<int64_t>(plan.leaves, max_ports));  // one per leaf, at most one per port
  if (spines > max_ports)
    throw std::invalid_argument(fmt::format("{} spines is more than the {} NIC ports under a leaf; under destination-mod-k routing spine k serves "
                                            "the ports at place k mod spines, so spines beyond {} would carry no traffic", spines, max_ports, max_ports));
  tb.spines = spines;
  tb.leaf_to_spine.assign(static_cast<size_t>(plan.leaves) * static_cast<size_t>(spines), -1);
  tb.spine_to_leaf.assign(static_cast<size_t>(plan.leaves) * static_cast<size_t>(spines), -1);
  for (int32_t k = 0; k < spines; ++k) {
    const size_t sv = t.add_vertex(fmt::format("spine{}", k), -1, false);
    for (int32_t l = 0; l < plan.leaves; ++l) {
      const double bw = down_bw[static_cast<size_t>(l)] / spec.oversubscription / static_cast<double>(spines);
      if (!(bw > 0)) throw std::invalid_argument(fmt::format("topology: leaf {} has no ports", l));
      const auto lv = static_cast<size_t>(tb.leaf_vertex[static_cast<size_t>(l)]);
      // Switch-to-switch hops add no latency: the profile's one-way latency covers the fabric.
      tb.leaf_to_spine[static_cast<size_t>(l) * static_cast<size_t>(spines) + static_cast<size_t>(k)] = t.add_link(lv, sv, bw, out.efficiency, SimTime(), LinkDomain::ScaleOut);
      tb.spine_to_leaf[static_cast<size_t>(k) * static_cast<size_t>(plan.leaves) + static_cast<size_t>(l)] = t.add_link(sv, lv, bw, out.efficiency, SimTime(), LinkDomain::ScaleOut);
    }
  }
}

}  // namespace moesim
