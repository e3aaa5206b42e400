#include "sim/network/topology_registry.h"

#include <limits>

#include <fmt/format.h>

#include "sim/network/topology_parts.h"

namespace moesim {
namespace {

LeafPlan single_fabric() {
  LeafPlan p;
  p.leaves = 1;
  return p;
}

Topology nvswitch_fat_tree(const TopologySpec& s, const HardwareProfile& hw) {
  Topology t;
  add_device_vertices(t, s);
  const LeafPlan plan = single_fabric();
  add_leaves(t, plan);
  for (int64_t n = 0; n < s.nodes; ++n) {
    add_switch_scale_up(t, s, hw, n);
    add_nic_ports(t, s, hw, n, plan);
  }
  return t;
}

int64_t ports_per_node(const TopologySpec& s) { return std::min(s.nics(), s.devices_per_node); }

// NVSwitch nodes whose NIC ports hang off the leaves of `plan`, leaves joined by spines.
Topology leaf_spine(const TopologySpec& s, const HardwareProfile& hw, const LeafPlan& plan) {
  Topology t;
  add_device_vertices(t, s);
  add_leaves(t, plan);
  for (int64_t n = 0; n < s.nodes; ++n) {
    add_switch_scale_up(t, s, hw, n);
    add_nic_ports(t, s, hw, n, plan);
  }
  add_spines(t, s, hw, plan, static_cast<int32_t>(s.spines));  // 0: the default, resolved there
  return t;
}

Topology rail_fat_tree(const TopologySpec& s, const HardwareProfile& hw) {
  // Rail r (the r-th NIC port of every node) of a group of `per_leaf` nodes shares one leaf.
  const int64_t rails = ports_per_node(s);
  const int64_t per_leaf = s.nodes_per_leaf > 0 ? std::min(s.nodes_per_leaf, s.nodes) : s.nodes;
  const int64_t groups = (s.nodes + per_leaf - 1) / per_leaf;
  LeafPlan plan;
  plan.leaves = static_cast<int32_t>(groups * rails);
  plan.leaf_of = [=](int64_t node, int64_t port) { return static_cast<int32_t>((node / per_leaf) * rails + port); };
  plan.slot_of = [=](int64_t node, int64_t) { return static_cast<int32_t>(node % per_leaf); };
  plan.name = [=](int32_t l) { return groups == 1 ? fmt::format("rail{}", l) : fmt::format("group{}/rail{}", l / rails, l % rails); };
  return leaf_spine(s, hw, plan);
}

Topology fat_tree(const TopologySpec& s, const HardwareProfile& hw) {
  // All NIC ports of `per_leaf` consecutive nodes on one top-of-rack leaf.
  const int64_t ports = ports_per_node(s);
  const int64_t per_leaf = std::min(s.nodes_per_leaf > 0 ? s.nodes_per_leaf : 4, s.nodes);
  LeafPlan plan;
  plan.leaves = static_cast<int32_t>((s.nodes + per_leaf - 1) / per_leaf);
  plan.leaf_of = [=](int64_t node, int64_t) { return static_cast<int32_t>(node / per_leaf); };
  plan.slot_of = [=](int64_t node, int64_t port) { return static_cast<int32_t>((node % per_leaf) * ports + port); };
  plan.name = [](int32_t l) { return fmt::format("leaf{}", l); };
  return leaf_spine(s, hw, plan);
}

Topology hccs_mesh_roce(const TopologySpec& s, const HardwareProfile& hw) {
  const double peer = s.peer_bandwidth_Bps > 0 ? s.peer_bandwidth_Bps
                      : s.devices_per_node > 1 ? hw.intra_node.bandwidth_Bps / static_cast<double>(s.devices_per_node - 1)
                                               : hw.intra_node.bandwidth_Bps;
  Topology t;
  add_device_vertices(t, s);
  const LeafPlan plan = single_fabric();
  add_leaves(t, plan);
  for (int64_t n = 0; n < s.nodes; ++n) {
    add_mesh_scale_up(t, s, hw, n, peer);
    add_nic_ports(t, s, hw, n, plan);
  }
  return t;
}

ParamSpec oversubscription() {
  return {"oversubscription", "number", "", "1 (non-blocking)", 1.0, 1024.0, "a leaf's downlink : uplink bandwidth ratio"};
}
ParamSpec spines() {
  return {"spines", "integer", "", "0 (one spine per leaf, at most the ports of a leaf)", 0, 1 << 20,
          "spine switches joining the leaves (at most the NIC ports under a leaf: destination-mod-k routing uses no more)"};
}
ParamSpec nodes_per_leaf(const char* default_value, const char* description) {
  return {"nodes_per_leaf", "integer", "", default_value, 0, 1 << 20, description};
}

TopologyRegistry build_registry() {
    // DeepSeek-V3 serves decode with DeepEP's low-latency kernels (arXiv:2412.19437 Sec. 3.4); on
  // Ascend, HCCL's hierarchical all-to-all serves both phases.
  const TopologyTraits nvswitch{"nvswitch", "deepep-normal", "deepep-low-latency"}, hccs{"hccs", "hccl-hierarchical", "hccl-hierarchical"};
  TopologyRegistry r;
  r.add({"nvswitch-fat-tree",
         "one NVSwitch per node joins its GPUs (a port each way per GPU); one NIC port per GPU (or per rail group) into one "
         "non-blocking scale-out switch",
         "NVIDIA DGX H100/H800 node (8 GPUs, 4 NVSwitch chips acting as one switch, one ConnectX-7 per GPU); DeepSeek-V3 "
         "report arXiv:2412.19437 Sec. 3.2.2",
         &nvswitch_fat_tree, nvswitch, {}});
  r.add({"rail-fat-tree",
         "NVSwitch nodes; NIC r of every node on rail leaf r (nodes_per_leaf nodes per leaf), leaves joined by `spines` "
         "spines with leaf uplinks = downlinks / `oversubscription`; destination-mod-k spine choice",
         "NVIDIA DGX SuperPOD reference architecture (rail-optimised); Wang et al., 'Rail-only', arXiv:2307.12169; "
         "D-mod-k routing: Zahavi et al., 'Optimized InfiniBand fat-tree routing for shift all-to-all', 2010",
         &rail_fat_tree, nvswitch,
         {oversubscription(), spines(), nodes_per_leaf("0 (all nodes on one leaf per rail)", "nodes whose rail-r NICs share one leaf")}});
  r.add({"fat-tree",
         "NVSwitch nodes; all NICs of `nodes_per_leaf` (default 4) consecutive nodes on one top-of-rack leaf, leaves "
         "joined by `spines` spines with leaf uplinks = downlinks / `oversubscription`; destination-mod-k spine choice",
         "Leiserson, 'Fat-trees', IEEE ToC 1985; Al-Fares et al., SIGCOMM 2008; D-mod-k routing: Zahavi et al. 2010",
         &fat_tree, nvswitch,
         {oversubscription(), spines(), nodes_per_leaf("0 (4 nodes per leaf)", "consecutive nodes whose NICs share one top-of-rack leaf")}});
  r.add({"hccs-mesh-roce",
         "Ascend-class NPU node: full mesh of HCCS peer links (per peer: the profile's scale-up bandwidth / (devices-1) "
         "unless `peer_bandwidth` is given), no switch; one RoCE NIC port per NPU into one non-blocking fabric",
         "Huawei Atlas 800T A2 (8x Ascend 910B, HCCS 7 x 56 GB/s full mesh, 8 x 200GE RoCE); figures and sources in "
         "hw_profiles/Ascend-910B.json",
         &hccs_mesh_roce, hccs,
         {{"peer_bandwidth", "bandwidth", "B/s", "0 (the profile's scale-up bandwidth / (devices_per_node - 1))", 0,
           std::numeric_limits<double>::infinity(), "one HCCS peer link, per direction"}}});
  return r;
}

}  // namespace

const TopologyRegistry& topology_registry() {
  static const TopologyRegistry registry = build_registry();
  return registry;
}

const std::string& default_topology(const std::string& fabric) {
  for (const auto& e : topology_registry().entries())
    if (e.traits.scale_up_fabric == fabric) return e.name;
  return topology_registry().entries().front().name;
}

}  // namespace moesim
