// A collective as concurrent flows with explicit routes: what an all-to-all algorithm hands to a
// network model (per-port bottleneck or flow-level max-min). A flow is a byte count on a path of
// links from a source to a destination device, starting when the collective starts; `weight`
// counts identical flows (same path, same bytes) merged into one.
//
// Besides the topology's links a path may hold kernel links: limits of the communication kernel
// rather than of the wire, e.g. the copy throughput of the warps a DeepEP kernel gives one (device,
// peer) pair (sim/network/comm_kernel.h). They are numbered after the topology's links, have no
// latency and an efficiency of 1, and both network models share them as they share wires.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sim/network/flow_sink.h"
#include "sim/network/topology.h"

namespace moesim {

struct Flow {
  int64_t first_link = 0;   // into FlowSet::links
  int32_t hops = 0;
  int32_t src = 0, dst = 0; // devices (for intra/inter-node byte accounting)
  double bytes = 0;
  SimTime latency;          // the route's latency, added once the last byte has left
  double weight = 1.0;
};

// A kernel resource: `role` names what it limits (a static string), for the pair device -> peer.
struct KernelLink {
  const char* role = "";
  int32_t device = 0, peer = 0;
  double capacity_Bps = 0;
};

class FlowSet final : public FlowSink {
 public:
  explicit FlowSet(const Topology& topology) : topo_(&topology) {}
  // Adds `bytes` from src to dst along `route`, then through `kernel_link` (an id from
  // add_kernel_link) if given; nothing for no bytes, or an empty route without a kernel link (a
  // kernel's copy into the device's own buffers is a flow through its kernel link alone).
  using FlowSink::add;
  void add(const Route& route, int64_t src, int64_t dst, double bytes, int32_t kernel_link) override;
  // A new kernel link of `capacity_Bps` (> 0); returns its id (after the topology's links).
  int32_t add_kernel_link(const char* role, int64_t device, int64_t peer, double capacity_Bps) override;
  // Any link of a path: the topology's (bandwidth x efficiency) or a kernel link.
  size_t num_links() const { return topo_->num_links() + kernel_links_.size(); }
  bool is_kernel_link(int32_t link) const { return static_cast<size_t>(link) >= topo_->num_links(); }
  double capacity_Bps(int32_t link) const;   // achievable bytes/s
  double bandwidth_Bps(int32_t link) const;  // nominal bytes/s (a kernel link's capacity)
  std::string link_name(int32_t link) const;
  const Topology& topology() const { return *topo_; }
  const std::vector<Flow>& flows() const { return flows_; }
  const int32_t* path(const Flow& f) const { return links_.data() + f.first_link; }
  size_t size() const { return flows_.size(); }
  void clear() { flows_.clear(), links_.clear(), kernel_links_.clear(); }
  // Room for `flows` flows of `links` path entries in all (saves regrowing large sets).
  void reserve(size_t flows, size_t links) override { flows_.reserve(flows), links_.reserve(links); }
  double bytes_total() const;
  // Merges flows with identical paths and byte counts into one of summed weight. Max-min gives
  // such flows equal rates at every instant, so the answer is unchanged; order is kept.
  void merge_identical();
  bool has_identical() const { return find_identical(nullptr); }  // would merge_identical() merge any?

 private:
  // Sets first_of[i] to the first flow identical to flow i (-1 if none); true if any is.
  bool find_identical(std::vector<int64_t>* first_of) const;
  const Topology* topo_;
  std::vector<Flow> flows_;
  std::vector<int32_t> links_;
  std::vector<KernelLink> kernel_links_;
};

}  // namespace moesim
