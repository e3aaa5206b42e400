// The cluster an experiment runs on: the topology generator and its parameters (a TopologySpec:
// nodes, devices and NICs per node, generator parameters), and the network model that shares its
// links among flows. The experiment's `cluster` section.
#pragma once
#include "sim/network/network_model.h"
#include "sim/network/topology_spec.h"

namespace moesim {

struct ClusterConfig {
  TopologySpec topology;
  NetworkModelKind network_model = NetworkModelKind::Bottleneck;
  double flow_tolerance = 1e-3;  // flow model: finish flows due within this share together
  int64_t devices() const { return topology.devices(); }
};

}  // namespace moesim
