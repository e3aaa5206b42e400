// The topology generators, registered by name with a description and a citation
// (`moesim list topologies`): nvswitch-fat-tree, rail-fat-tree, fat-tree, hccs-mesh-roce.
// docs/topologies.md draws each one and lists its parameters.
#pragma once
#include "sim/app/registry.h"
#include "sim/network/topology.h"

namespace moesim {

using TopologyFactory = Topology (*)(const TopologySpec&, const HardwareProfile&);
const Registry<TopologyFactory>& topology_registry();

}  // namespace moesim
