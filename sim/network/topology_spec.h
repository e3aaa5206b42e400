// What a topology generator is asked to build: its name and parameters, taken from the
// experiment's `cluster` object (or the `moesim comm` command line). Link bandwidths, latencies
// and efficiencies come from the hardware profile; this only says how the pieces are wired.
#pragma once
#include <cstdint>
#include <string>

namespace moesim {

struct TopologySpec {
  std::string generator = "nvswitch-fat-tree";  // a name in topology_registry()
  int64_t nodes = 1;
  int64_t devices_per_node = 8;
  int64_t nics_per_node = 0;        // 0 = one NIC per device
  double oversubscription = 1.0;    // rail-fat-tree, fat-tree: a leaf's downlink : uplink bandwidth
  int64_t spines = 0;               // rail-fat-tree, fat-tree: spine switches; 0 = one per leaf
  int64_t nodes_per_leaf = 0;       // fat-tree: nodes under one top-of-rack leaf (0 = 4);
                                    // rail-fat-tree: nodes per rail leaf (0 = all nodes)
  double peer_bandwidth_Bps = 0;    // hccs-mesh-roce: one peer link per direction; 0 = the profile's
                                    // scale-up bandwidth / (devices_per_node - 1)

  int64_t devices() const { return nodes * devices_per_node; }
  int64_t nics() const { return nics_per_node > 0 ? nics_per_node : devices_per_node; }
};

}  // namespace moesim
