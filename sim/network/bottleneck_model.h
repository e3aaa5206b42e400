// The per-port bottleneck model of a collective: every flow crosses the links of its route; the
// collective lasts as long as its most loaded link needs at that link's achievable bandwidth
// (bandwidth x efficiency), plus the longest route latency and a fixed software latency. No link
// can exceed 100% by construction. The fast mode; flow_model.h shares links by max-min fairness.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "sim/network/flow_set.h"
#include "sim/network/topology.h"

namespace moesim {

struct CollectiveResult {
  SimTime duration;
  SimTime fixed_latency;              // the fixed time included in duration
  double bytes_total = 0;             // bytes between distinct devices (intra + inter node)
  double bytes_intra_node = 0;
  double bytes_inter_node = 0;
  double bytes_staged = 0;            // copies into a device's own buffers (staging routes)
  double bytes_egress = 0;            // bytes on links leaving a device (what sources sent)
  double bytes_ingress = 0;           // bytes on links entering a device (what destinations got)
  double max_link_utilization = 0;   // busiest link's bytes / (bandwidth x duration)
  int32_t bottleneck_link = -1;       // the link whose bytes need the longest at its achievable rate
  double bottleneck_link_bytes = 0;   // (a topology link, or a kernel link of the FlowSet)
  std::string bottleneck_name;        // its name ("" when nothing moved)
  bool bottleneck_is_kernel = false;  // a limit of the communication kernel, not of a wire
  double max_wire_utilization = 0;    // busiest topology link's bytes / (bandwidth x duration)
  int64_t flows = 0;                  // flows simulated (after merging identical ones)
  int64_t rate_updates = 0;           // flow model: times the max-min rates were recomputed
};

// Bytes per link of a collective, and the totals of CollectiveResult derived from them (shared
// by both network models): add() the flows, read busiest_seconds(), set r.duration, finish().
class LinkLoads {
 public:
  void add(const FlowSet& flows, CollectiveResult& r);
  // One flow of `b` bytes (its weight included) from device src to dst, in two steps:
  // count_flow adds it to r's totals, add_to_link to one link of its path (call for each, in
  // path order). Links must have room (make_room: the FlowSet's num_links()).
  void count_flow(const Topology& topo, int32_t src, int32_t dst, double b, CollectiveResult& r) {
    ++r.flows;
    if (src == dst) {
      r.bytes_staged += b;
      return;
    }
    r.bytes_total += b;
    (topo.node_of(src) == topo.node_of(dst) ? r.bytes_intra_node : r.bytes_inter_node) += b;
  }
  void add_to_link(int32_t link, double b) {
    double& bytes = bytes_[static_cast<size_t>(link)];
    if (bytes == 0) touched_.push_back(link);
    bytes += b;
  }
  void make_room(size_t links) {
    if (bytes_.size() < links) bytes_.resize(links, 0.0);
  }
  void discard();  // drops what was added (a collective abandoned midway), ready for the next
  double busiest_seconds(const FlowSet& flows) const;  // most loaded link at its achievable rate
  void finish(const FlowSet& flows, CollectiveResult& r);  // bottleneck, utilisation, egress/ingress; resets

 private:
  std::vector<double> bytes_;
  std::vector<int32_t> touched_;
};

class BottleneckModel {
 public:
  explicit BottleneckModel(const Topology& topology) : topo_(topology) {}
  CollectiveResult run(const FlowSet& flows, SimTime fixed_latency);
  // run() for the flows that `emit` adds to the sink it is given, without keeping them: each
  // flow's bytes go onto its links as it arrives. The additions are run()'s, in run()'s order, so
  // the result is the same to the last bit (unit test in test_comm.cpp); a decode all-to-all at
  // EP320 has about 100,000 flows that are then never stored.
  CollectiveResult run_streamed(const std::function<void(FlowSink&)>& emit, SimTime fixed_latency);

 private:
  class StreamedFlows;
  CollectiveResult finish(const FlowSet& set, CollectiveResult& r, SimTime max_latency, SimTime fixed_latency);
  const Topology& topo_;
  LinkLoads loads_;
};

}  // namespace moesim
