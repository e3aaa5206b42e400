// The cluster as a graph (Boost.Graph): devices, each node's scale-up fabric (an NVSwitch, or an
// HCCS full mesh), NIC ports and the scale-out fabric (one non-blocking switch, or leaves joined by
// spines), joined by directed links with a bandwidth per direction, a latency and an efficiency.
// Built by a named generator (topology_registry.h), then frozen. Routes are not stored per device
// pair (that is D^2 paths, 100 MB at 2048 GPUs): each generator fills small per-device and per-port
// link tables and a route is read off them in O(hops); freeze() checks on the graph that these
// routes are fewest-hop paths (all pairs up to 256 devices, a sample beyond).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <boost/graph/adjacency_list.hpp>

#include "sim/engine/sim_time.h"
#include "sim/hardware/hardware_profile.h"
#include "sim/network/topology_spec.h"

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
  int32_t from_vertex = 0;
  int32_t to_vertex = 0;
  std::string name;
};

// The links of one route, held inline (at most kMaxHops). Iterable, and unpacks as a pair of
// pointers into itself: `auto [first, last] = topo.route(s, d);` stays valid for the binding's scope.
class Route {
 public:
  static constexpr int kMaxHops = 8;
  const int32_t* begin() const { return links_.data(); }
  const int32_t* end() const { return links_.data() + n_; }
  int size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int32_t operator[](int i) const { return links_[static_cast<size_t>(i)]; }
  void push(int32_t link) { links_[static_cast<size_t>(n_++)] = link; }
  template <size_t I>
  const int32_t* get() const {
    return I == 0 ? begin() : end();
  }

 private:
  std::array<int32_t, kMaxHops> links_{};
  int n_ = 0;
};

// Link ids a generator records so that routes are computed, not stored.
struct RouteTables {
  // Scale-up: a switch port per device, or (mesh) one link per ordered pair of a node's devices.
  std::vector<int32_t> up, down;      // [device] device->switch, switch->device (switch fabrics)
  std::vector<int32_t> mesh;          // [device * per_node + peer's local index] (mesh fabrics)
  std::vector<int32_t> loopback;      // [device] a mesh device's own buffer-copy link
  // Scale-out: device -> NIC port -> leaf [-> spine -> leaf] -> NIC port -> device.
  std::vector<int32_t> port_of;       // [device] its NIC port (global index)
  std::vector<int32_t> dev_to_port, port_to_dev;  // [device]
  std::vector<int32_t> port_up, port_down;        // [port] port->leaf, leaf->port
  std::vector<int32_t> leaf_of;       // [port]
  std::vector<int32_t> slot_in_leaf;  // [port] position among its leaf's ports (chooses the spine)
  int32_t leaves = 0, spines = 0;
  std::vector<int32_t> leaf_vertex;   // [leaf] graph vertex
  std::vector<int32_t> leaf_to_spine; // [leaf * spines + spine]
  std::vector<int32_t> spine_to_leaf; // [spine * leaves + leaf]
};

class Topology {
 public:
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, TopoVertex, TopoLink>;

  // Runs the generator spec.generator from topology_registry(); throws std::invalid_argument for
  // an unknown name or bad parameters.
  static Topology build(const TopologySpec& spec, const HardwareProfile& hw);

  void freeze();
  bool frozen() const { return frozen_; }
  const std::string& generator() const { return generator_; }
  int64_t devices() const { return devices_; }
  int64_t devices_per_node() const { return devices_per_node_; }
  int64_t nodes() const { return devices_ / devices_per_node_; }
  // By table for the devices (two 64-bit divisions per flow were most of building an EP320
  // all-to-all's flows), by division for any other index.
  int64_t node_of(int64_t device) const {
    return static_cast<uint64_t>(device) < node_of_device_.size() ? node_of_device_[static_cast<size_t>(device)] : device / devices_per_node_;
  }
  int64_t local_index(int64_t device) const { return device - node_of(device) * devices_per_node_; }
  // Whether two devices share a scale-up fabric (NVLink / HCCS): every generator builds one per
  // node, so a rack-scale NVLink domain (GB200 NVL72) is a node of 72 devices.
  bool same_scale_up_domain(int64_t a, int64_t b) const { return node_of(a) == node_of(b); }
  size_t num_links() const { return links_.size(); }
  const TopoLink& link(int32_t id) const { return links_[static_cast<size_t>(id)]; }

  // Fewest-hop route: over the scale-up fabric inside a node, over NICs across nodes; empty for
  // src == dst.
  Route route(int64_t src, int64_t dst) const;
  // What an RDMA write between two devices takes: NIC to NIC through the scale-out fabric even
  // inside a node (DeepEP's pure-RDMA low-latency kernels, and the inter-node leg of forwarding).
  Route scale_out_route(int64_t src, int64_t dst) const;
  // The links a device's copy into its own communication buffer occupies: its scale-up switch port
  // (both directions), or its loopback link on a mesh. Used by algorithms whose kernels pass kept
  // tokens through the same buffers as sent ones (DeepEP's normal kernels).
  Route staging_route(int64_t device) const;
  SimTime latency_of(const Route& r) const {
    SimTime t;
    for (int32_t l : r) t += link_latency(l);
    return t;
  }
  SimTime link_latency(int32_t link) const { return SimTime::from_ps(latency_ps_[static_cast<size_t>(link)]); }
  // A device's scale-up bandwidth per direction (its switch port, or its mesh loopback at the
  // profile's scale-up rate); its NIC port's where it has no scale-up fabric.
  double scale_up_Bps(int64_t device) const;
  const Graph& graph() const { return graph_; }

  // Generator interface (used while building, before freeze).
  size_t add_vertex(std::string name, int64_t node, bool is_device);
  int32_t add_link(size_t from, size_t to, double bandwidth_Bps, double efficiency, SimTime latency, LinkDomain domain);
  void set_shape(std::string generator, int64_t devices, int64_t devices_per_node);
  RouteTables& tables() { return tables_; }

 private:
  Route route_impl(int64_t src, int64_t dst) const;
  Route scale_out_impl(int64_t src, int64_t dst) const;
  void check_route(int64_t src, int64_t dst, const Route& r, const std::vector<int32_t>& hops_from_src) const;

  Graph graph_;
  std::vector<TopoLink> links_;
  std::vector<int64_t> latency_ps_;  // [link], compact copy for route latencies
  std::string generator_;
  int64_t devices_ = 0;
  int64_t devices_per_node_ = 1;
  std::vector<int32_t> node_of_device_;  // [device] its node
  bool frozen_ = false;
  RouteTables tables_;
};

}  // namespace moesim

template <>
struct std::tuple_size<moesim::Route> : std::integral_constant<size_t, 2> {};
template <size_t I>
struct std::tuple_element<I, moesim::Route> {
  using type = const int32_t*;
};
