// The per-port bottleneck model of a collective: every transfer crosses the links of its route;
// the collective lasts as long as its most loaded link needs at that link's achievable bandwidth,
// plus the longest route latency and a fixed software latency. No link can exceed 100% by
// construction. (Flow-level max-min sharing is a later, finer model.)
#pragma once
#include <vector>

#include "sim/network/topology.h"
#include "sim/network/traffic.h"

namespace moesim {

struct CollectiveResult {
  SimTime duration;
  double bytes_total = 0;
  double bytes_intra_node = 0;
  double bytes_inter_node = 0;
  double bytes_egress = 0;            // bytes on links leaving a device (what sources sent)
  double bytes_ingress = 0;           // bytes on links entering a device (what destinations got)
  double max_link_utilization = 0;   // busiest link's bytes / (bandwidth x duration)
  int32_t bottleneck_link = -1;
  double bottleneck_link_bytes = 0;
};

class BottleneckModel {
 public:
  explicit BottleneckModel(const Topology& topology) : topo_(topology), link_bytes_(topology.num_links(), 0.0) {}
  CollectiveResult run(const std::vector<Transfer>& transfers, SimTime fixed_latency);

 private:
  const Topology& topo_;
  std::vector<double> link_bytes_;
  std::vector<int32_t> touched_;
};

}  // namespace moesim
