// The per-port bottleneck model of a collective: every flow crosses the links of its route; the
// collective lasts as long as its most loaded link needs at that link's achievable bandwidth
// (bandwidth x efficiency), plus the longest route latency and a fixed software latency. No link
// can exceed 100% by construction. The fast mode; flow_model.h shares links by max-min fairness.
#pragma once
#include <vector>

#include "sim/network/flow_set.h"
#include "sim/network/topology.h"
#include "sim/network/traffic.h"

namespace moesim {

struct CollectiveResult {
  SimTime duration;
  double bytes_total = 0;             // bytes between distinct devices (intra + inter node)
  double bytes_intra_node = 0;
  double bytes_inter_node = 0;
  double bytes_staged = 0;            // copies into a device's own buffers (staging routes)
  double bytes_egress = 0;            // bytes on links leaving a device (what sources sent)
  double bytes_ingress = 0;           // bytes on links entering a device (what destinations got)
  double max_link_utilization = 0;   // busiest link's bytes / (bandwidth x duration)
  int32_t bottleneck_link = -1;       // the link whose bytes need the longest at its achievable rate
  double bottleneck_link_bytes = 0;
  int64_t flows = 0;                  // flows simulated (after merging identical ones)
  int64_t rate_updates = 0;           // flow model: times the max-min rates were recomputed
};

// Fills the byte totals, per-link loads, bottleneck link and utilisation of `r` for a collective
// that lasted r.duration (shared by both network models).
void account_links(const FlowSet& flows, CollectiveResult& r, std::vector<double>& link_bytes, std::vector<int32_t>& touched);

class BottleneckModel {
 public:
  explicit BottleneckModel(const Topology& topology) : topo_(topology), link_bytes_(topology.num_links(), 0.0) {}
  // Transfers on the topology's fewest-hop routes.
  CollectiveResult run(const std::vector<Transfer>& transfers, SimTime fixed_latency);
  CollectiveResult run(const FlowSet& flows, SimTime fixed_latency);

 private:
  const Topology& topo_;
  std::vector<double> link_bytes_;
  std::vector<int32_t> touched_;
};

}  // namespace moesim
