// Building blocks the topology generators share: device vertices, a node's scale-up fabric (a
// switch, or a full mesh of peer links), NIC ports, and a scale-out fabric of leaves (optionally
// joined by spines with an oversubscription ratio). Each block adds its vertices and links to the
// graph and records their ids in the topology's route tables.
#pragma once
#include <cstdint>
#include <functional>

#include "sim/network/topology.h"

namespace moesim {

// Vertices gpu0..gpuN-1 (vertex i is device i).
void add_device_vertices(Topology& t, const TopologySpec& spec);

// One scale-up switch for the node: a link each way between it and each of the node's devices;
// each hop carries half of the profile's one-way latency.
void add_switch_scale_up(Topology& t, const TopologySpec& spec, const HardwareProfile& hw, int64_t node);

// A full mesh inside the node: one direct link per ordered device pair at peer_bandwidth_Bps
// (carrying the whole one-way latency), and a loopback link per device at the profile's scale-up
// bandwidth for copies into its own buffers.
void add_mesh_scale_up(Topology& t, const TopologySpec& spec, const HardwareProfile& hw, int64_t node, double peer_bandwidth_Bps);

// Where a node's NIC ports attach in the scale-out fabric.
struct LeafPlan {
  int32_t leaves = 1;  // 1: one non-blocking switch named "fabric"
  std::function<int32_t(int64_t node, int64_t port)> leaf_of;  // port = the port's index in its node
  std::function<int32_t(int64_t node, int64_t port)> slot_of;  // its place among the leaf's ports
  std::function<std::string(int32_t leaf)> name;
};

// The scale-out fabric's leaf vertices (call before the nodes' NIC ports).
void add_leaves(Topology& t, const LeafPlan& plan);

// The node's NIC ports, each joined to its leaf. With at least one NIC per device, a device's NICs
// act as one port of their summed bandwidth; with fewer, the devices of a rail group share one.
// Port-to-leaf hops carry half of the profile's one-way inter-node latency each.
void add_nic_ports(Topology& t, const TopologySpec& spec, const HardwareProfile& hw, int64_t node, const LeafPlan& plan);

// Spines joining the leaves: `spines` of them (0: one per leaf, but no more than the ports of the
// largest leaf), each leaf with one uplink per spine; a leaf's uplinks together carry its ports'
// bandwidth / oversubscription. No-op for a single leaf. std::invalid_argument for more spines
// than the ports of the largest leaf: destination-mod-k routing would never use the extra ones.
void add_spines(Topology& t, const TopologySpec& spec, const HardwareProfile& hw, const LeafPlan& plan, int32_t spines);

}  // namespace moesim
