// The cluster as a graph (Boost.Graph): devices, each node's scale-up switch (NVSwitch, HCCS),
// NICs and the scale-out fabric, joined by directed links with a bandwidth per direction, a
// latency and an efficiency. Built by a named generator, then frozen: routes between every pair
// of devices are computed once (breadth-first, fewest hops; vertices in a fixed order).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <boost/graph/adjacency_list.hpp>

#include "sim/app/experiment_config.h"
#include "sim/engine/sim_time.h"

namespace moesim {

enum class LinkDomain { ScaleUp, ScaleOut };

struct TopoVertex {
  std::string name;
  int64_t node = -1;
  bool is_device = false;
};

struct TopoLink {
  int32_t id = 0;
  double bandwidth_Bps = 0;
  double efficiency = 1.0;
  SimTime latency;
  LinkDomain domain = LinkDomain::ScaleUp;
  bool from_device = false;
  bool to_device = false;
  std::string name;
};

class Topology {
 public:
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, TopoVertex, TopoLink>;

  // Generator "nvswitch-fat-tree": one scale-up switch per node joining its devices; devices
  // reach other nodes through their rail's NIC and one non-blocking scale-out fabric.
  static Topology build(const ClusterConfig& cluster, const HardwareProfile& hw);

  void freeze();
  bool frozen() const { return frozen_; }
  int64_t devices() const { return devices_; }
  int64_t devices_per_node() const { return devices_per_node_; }
  int64_t node_of(int64_t device) const { return device / devices_per_node_; }
  size_t num_links() const { return links_.size(); }
  const TopoLink& link(int32_t id) const { return links_[id]; }
  // Links from src to dst in order; empty for src == dst.
  std::pair<const int32_t*, const int32_t*> route(int64_t src, int64_t dst) const;
  SimTime route_latency(int64_t src, int64_t dst) const;
  const Graph& graph() const { return graph_; }

 private:
  void add_link(size_t from, size_t to, double bandwidth, double efficiency, SimTime latency, LinkDomain domain);

  Graph graph_;
  std::vector<TopoLink> links_;
  int64_t devices_ = 0;
  int64_t devices_per_node_ = 1;
  bool frozen_ = false;
  std::vector<int64_t> route_offset_;   // [src * devices + dst] -> first link in route_links_
  std::vector<int32_t> route_links_;
  std::vector<int64_t> route_latency_ps_;
};

}  // namespace moesim
