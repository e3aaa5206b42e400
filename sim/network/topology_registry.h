// The topology generators, registered by name with a description and a citation
// (`moesim list topologies`): nvswitch-fat-tree, rail-fat-tree, fat-tree, hccs-mesh-roce.
// docs/topologies.md draws each one and lists its parameters.
#pragma once
#include "sim/base/registry.h"
#include "sim/network/topology.h"

namespace moesim {

using TopologyFactory = Topology (*)(const TopologySpec&, const HardwareProfile&);

struct TopologyTraits {
  std::string scale_up_fabric;  // the hardware profile's intra_node.fabric it models ("nvswitch", "hccs")
  std::string native_a2a;       // the all-to-all algorithm `auto` picks on it (sim/network/a2a_wire.h)
  std::string decode_a2a;       // the one `auto` picks for decode across nodes
};

// Each entry's params are the TopologySpec fields it reads beyond the cluster shape (nodes,
// devices_per_node, nics_per_node); an experiment that sets another is refused.
using TopologyRegistry = Registry<TopologyFactory, TopologyTraits>;
const TopologyRegistry& topology_registry();

// The generator for a device whose scale-up fabric is `fabric`: the first entry that models it,
// else the first entry (nvswitch-fat-tree).
const std::string& default_topology(const std::string& fabric);

}  // namespace moesim
