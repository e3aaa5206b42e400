// Closed-form checks of the topology and the per-port bottleneck model.
#include <catch2/catch.hpp>

#include "sim/network/bottleneck_model.h"
#include "sim/network/topology.h"

using namespace moesim;

namespace {

// A made-up device: 100 GB/s scale-up per direction with 2 us latency, 400 Gb/s (50 GB/s) NICs
// with 4 us latency, all efficiencies 1.
HardwareProfile test_hw() {
  HardwareProfile h;
  h.intra_node = {"nvswitch", 100e9, SimTime::from_us(2), 1.0};
  h.inter_node = {"infiniband", 50e9, SimTime::from_us(4), 1.0};
  return h;
}

ClusterConfig cluster(int64_t nodes, int64_t per_node) {
  ClusterConfig c;
  c.nodes = nodes;
  c.devices_per_node = per_node;
  c.nics_per_node = per_node;
  return c;
}

}  // namespace

TEST_CASE("routes: two hops inside a node, four across nodes", "[quick][network]") {
  auto t = Topology::build(cluster(2, 4), test_hw());
  t.freeze();
  auto [a, b] = t.route(0, 3);
  CHECK(b - a == 2);
  auto [c, d] = t.route(0, 5);
  CHECK(d - c == 4);
  CHECK(t.route_latency(0, 3) == SimTime::from_us(2));
  CHECK(t.route_latency(0, 5) == SimTime::from_us(4));
}

TEST_CASE("one flow on one link", "[quick][network]") {
  // 1 MB from gpu0 to gpu1 in one node: 1e6 / 100e9 = 10 us, + 2 us latency = 12 us.
  auto t = Topology::build(cluster(1, 2), test_hw());
  t.freeze();
  BottleneckModel m(t);
  auto r = m.run({{0, 1, 1e6}}, SimTime());
  CHECK(r.duration == SimTime::from_us(12));
  CHECK(r.bytes_intra_node == 1e6);
  CHECK(r.bytes_egress == 1e6);
  CHECK(r.bytes_ingress == 1e6);
}

TEST_CASE("two flows sharing a link take twice as long", "[quick][network]") {
  // gpu0 sends 1 MB to gpu1 and 1 MB to gpu2: its uplink carries 2 MB -> 20 us + 2 us.
  auto t = Topology::build(cluster(1, 4), test_hw());
  t.freeze();
  BottleneckModel m(t);
  auto r = m.run({{0, 1, 1e6}, {0, 2, 1e6}}, SimTime());
  CHECK(r.duration == SimTime::from_us(22));
}

TEST_CASE("incast of N senders is limited by the receiver's port", "[quick][network]") {
  // 7 GPUs send 1 MB each to gpu0: its downlink carries 7 MB -> 70 us + 2 us.
  auto t = Topology::build(cluster(1, 8), test_hw());
  t.freeze();
  BottleneckModel m(t);
  std::vector<Transfer> v;
  for (int s = 1; s < 8; ++s) v.push_back({s, 0, 1e6});
  auto r = m.run(v, SimTime());
  CHECK(r.duration == SimTime::from_us(72));
  CHECK(r.max_link_utilization == Approx(70.0 / 72.0));
}

TEST_CASE("symmetric all-to-all on a full NVSwitch node", "[quick][network]") {
  // 8 GPUs, each sends 1 MB to each of the 7 others: every uplink and downlink carries 7 MB,
  // 70 us + 2 us latency + 5 us collective latency = 77 us.
  auto t = Topology::build(cluster(1, 8), test_hw());
  t.freeze();
  BottleneckModel m(t);
  std::vector<Transfer> v;
  for (int s = 0; s < 8; ++s)
    for (int d = 0; d < 8; ++d)
      if (s != d) v.push_back({s, d, 1e6});
  auto r = m.run(v, SimTime::from_us(5));
  CHECK(r.duration == SimTime::from_us(77));
  CHECK(r.bytes_total == 56e6);
  CHECK(r.bytes_egress == r.bytes_ingress);
}

TEST_CASE("inter-node traffic is limited by the NIC", "[quick][network]") {
  // 2 nodes of 1 GPU: 1 MB at 50 GB/s = 20 us, + 4 us latency.
  auto t = Topology::build(cluster(2, 1), test_hw());
  t.freeze();
  BottleneckModel m(t);
  auto r = m.run({{0, 1, 1e6}}, SimTime());
  CHECK(r.duration == SimTime::from_us(24));
  CHECK(r.bytes_inter_node == 1e6);
}

TEST_CASE("devices sharing a NIC share its bandwidth", "[quick][network]") {
  // 2 nodes of 4 GPUs with 1 NIC each (50 GB/s port): 4 GPUs of node 0 each send 1 MB to their
  // peer in node 1: the NIC uplink carries 4 MB -> 80 us + 4 us.
  auto c = cluster(2, 4);
  c.nics_per_node = 1;
  auto t = Topology::build(c, test_hw());
  t.freeze();
  BottleneckModel m(t);
  std::vector<Transfer> v;
  for (int s = 0; s < 4; ++s) v.push_back({s, s + 4, 1e6});
  auto r = m.run(v, SimTime());
  CHECK(r.duration == SimTime::from_us(84));
}
