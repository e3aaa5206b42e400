// Closed-form checks of the topology generators, their routes and the per-port bottleneck model
// (flow-model and all-to-all cases are in test_comm.cpp).
#include <catch2/catch.hpp>

#include "sim/scenario/experiment_config.h"
#include "sim/network/network_model.h"
#include "sim/network/topology.h"
#include "sim/network/topology_registry.h"

#include "network_fixtures.h"

using namespace moesim;

namespace {

TopologySpec cluster(int64_t nodes, int64_t per_node, std::string generator = "nvswitch-fat-tree") {
  TopologySpec c;
  c.generator = std::move(generator);
  c.nodes = nodes;
  c.devices_per_node = per_node;
  c.nics_per_node = per_node;
  return c;
}

// The per-port bottleneck model on the path the simulation takes: flows on fewest-hop routes,
// run through NetworkModel.
CollectiveResult bottleneck(const Topology& t, const std::vector<test::Send>& sends, SimTime fixed = SimTime()) {
  NetworkModel m(t, NetworkModelKind::Bottleneck);
  return m.run(test::fewest_hop_flows(t, sends), fixed);
}

std::vector<std::string> link_names(const Topology& t, const Route& r) {
  std::vector<std::string> out;
  for (int32_t l : r) out.push_back(t.link(l).name);
  return out;
}

}  // namespace

TEST_CASE("routes: two hops inside a node, four across nodes", "[quick][network][entry:nvswitch-fat-tree]") {
  auto t = Topology::build(cluster(2, 4), test::made_up_hw());
  t.freeze();
  auto [a, b] = t.route(0, 3);
  CHECK(b - a == 2);
  auto [c, d] = t.route(0, 5);
  CHECK(d - c == 4);
  CHECK(t.latency_of(t.route(0, 3)) == SimTime::from_us(2));
  CHECK(t.latency_of(t.route(0, 5)) == SimTime::from_us(4));
}

TEST_CASE("one flow on one link", "[quick][network]") {
  // 1 MB from gpu0 to gpu1 in one node: 1e6 / 100e9 = 10 us, + 2 us latency = 12 us.
  auto t = Topology::build(cluster(1, 2), test::made_up_hw());
  t.freeze();
  auto r = bottleneck(t, {{0, 1, 1e6}});
  CHECK(r.duration == SimTime::from_us(12));
  CHECK(r.bytes_intra_node == 1e6);
  CHECK(r.bytes_egress == 1e6);
  CHECK(r.bytes_ingress == 1e6);
}

TEST_CASE("two flows sharing a link take twice as long", "[quick][network]") {
  // gpu0 sends 1 MB to gpu1 and 1 MB to gpu2: its uplink carries 2 MB -> 20 us + 2 us.
  auto t = Topology::build(cluster(1, 4), test::made_up_hw());
  t.freeze();
  auto r = bottleneck(t, {{0, 1, 1e6}, {0, 2, 1e6}});
  CHECK(r.duration == SimTime::from_us(22));
}

TEST_CASE("incast of N senders is limited by the receiver's port", "[quick][network]") {
  // 7 GPUs send 1 MB each to gpu0: its downlink carries 7 MB -> 70 us + 2 us.
  auto t = Topology::build(cluster(1, 8), test::made_up_hw());
  t.freeze();
  std::vector<test::Send> v;
  for (int s = 1; s < 8; ++s) v.push_back({s, 0, 1e6});
  auto r = bottleneck(t, v);
  CHECK(r.duration == SimTime::from_us(72));
  CHECK(r.max_link_utilization == Approx(70.0 / 72.0));
}

TEST_CASE("symmetric all-to-all on a full NVSwitch node", "[quick][network]") {
  // 8 GPUs, each sends 1 MB to each of the 7 others: every uplink and downlink carries 7 MB,
  // 70 us + 2 us latency + 5 us collective latency = 77 us.
  auto t = Topology::build(cluster(1, 8), test::made_up_hw());
  t.freeze();
  std::vector<test::Send> v;
  for (int s = 0; s < 8; ++s)
    for (int d = 0; d < 8; ++d)
      if (s != d) v.push_back({s, d, 1e6});
  auto r = bottleneck(t, v, SimTime::from_us(5));
  CHECK(r.duration == SimTime::from_us(77));
  CHECK(r.bytes_total == 56e6);
  CHECK(r.bytes_egress == r.bytes_ingress);
}

TEST_CASE("inter-node traffic is limited by the NIC", "[quick][network]") {
  // 2 nodes of 1 GPU: 1 MB at 50 GB/s = 20 us, + 4 us latency.
  auto t = Topology::build(cluster(2, 1), test::made_up_hw());
  t.freeze();
  auto r = bottleneck(t, {{0, 1, 1e6}});
  CHECK(r.duration == SimTime::from_us(24));
  CHECK(r.bytes_inter_node == 1e6);
}

TEST_CASE("devices sharing a NIC share its bandwidth", "[quick][network]") {
  // 2 nodes of 4 GPUs with 1 NIC each (50 GB/s port): 4 GPUs of node 0 each send 1 MB to their
  // peer in node 1: the NIC uplink carries 4 MB -> 80 us + 4 us.
  auto c = cluster(2, 4);
  c.nics_per_node = 1;
  auto t = Topology::build(c, test::made_up_hw());
  t.freeze();
  std::vector<test::Send> v;
  for (int s = 0; s < 4; ++s) v.push_back({s, s + 4, 1e6});
  auto r = bottleneck(t, v);
  CHECK(r.duration == SimTime::from_us(84));
}

TEST_CASE("the experiment's cluster builds the same topology", "[quick][network]") {
  ClusterConfig c;
  c.topology.nodes = 2;
  c.topology.devices_per_node = 4;
  c.topology.nics_per_node = 4;
  auto a = Topology::build(c.topology, test::made_up_hw());
  auto b = Topology::build(cluster(2, 4), test::made_up_hw());
  REQUIRE(a.num_links() == b.num_links());
  for (size_t i = 0; i < a.num_links(); ++i) CHECK(a.link(static_cast<int32_t>(i)).name == b.link(static_cast<int32_t>(i)).name);
}

TEST_CASE("every registered generator builds, freezes and names a citation", "[quick][network]") {
  for (const auto& e : topology_registry().entries()) {
    INFO(e.name);
    CHECK(!e.description.empty());
    CHECK(!e.citation.empty());
    auto t = Topology::build(cluster(6, 4, e.name), test::made_up_hw());
    CHECK_NOTHROW(t.freeze());  // checks every route against breadth-first search on the graph
    CHECK(t.devices() == 24);
  }
  CHECK_THROWS_AS(Topology::build(cluster(1, 4, "torus"), test::made_up_hw()), std::invalid_argument);
}

TEST_CASE("rail-fat-tree: same rail crosses one leaf, another rail crosses a spine", "[quick][network][entry:rail-fat-tree]") {
  auto s = cluster(4, 4, "rail-fat-tree");
  s.spines = 2;
  auto t = Topology::build(s, test::made_up_hw());
  t.freeze();
  // gpu1 (node 0, rail 1) -> gpu5 (node 1, rail 1): NIC, rail-1 leaf, NIC.
  CHECK(link_names(t, t.route(1, 5)) == std::vector<std::string>{"gpu1->node0/nic1", "node0/nic1->rail1", "rail1->node1/nic1", "node1/nic1->gpu5"});
  // gpu1 -> gpu6 (node 1, rail 2): up to a spine chosen by the destination's place under its leaf
  // (node 1 -> spine 1 of 2), down to rail 2.
  CHECK(link_names(t, t.route(1, 6)) ==
        std::vector<std::string>{"gpu1->node0/nic1", "node0/nic1->rail1", "rail1->spine1", "spine1->rail2", "rail2->node1/nic2", "node1/nic2->gpu6"});
  // Inside a node: the NVSwitch.
  CHECK(link_names(t, t.route(1, 2)) == std::vector<std::string>{"gpu1->node0/switch", "node0/switch->gpu2"});
  // Pure RDMA inside a node (low-latency kernels): NIC to NIC through the fabric.
  CHECK(t.scale_out_route(1, 2).size() == 6);
  // Spine links carry the rail's ports / oversubscription / spines: 4 x 50 GB/s / 1 / 2.
  const Route r = t.route(1, 6);
  CHECK(t.link(r[2]).bandwidth_Bps == Approx(100e9));
}

TEST_CASE("fat-tree: nodes under one leaf, oversubscribed uplinks", "[quick][network][entry:fat-tree]") {
  auto s = cluster(4, 2, "fat-tree");
  s.nodes_per_leaf = 2;
  s.spines = 1;
  s.oversubscription = 2.0;
  auto t = Topology::build(s, test::made_up_hw());
  t.freeze();
  // Same leaf (nodes 0 and 1): NIC, leaf, NIC.
  CHECK(t.route(0, 2).size() == 4);
  // Other leaf: through the spine; the leaf's uplink is its 4 ports x 50 GB/s / 2 = 100 GB/s.
  const Route r = t.route(0, 4);
  REQUIRE(r.size() == 6);
  CHECK(t.link(r[2]).name == "leaf0->spine0");
  CHECK(t.link(r[2]).bandwidth_Bps == Approx(100e9));
  CHECK(t.latency_of(t.route(0, 4)) == SimTime::from_us(4));
}

TEST_CASE("hccs-mesh-roce: one direct peer link inside a node", "[quick][network][entry:hccs-mesh-roce]") {
  auto t = Topology::build(cluster(2, 8, "hccs-mesh-roce"), test::made_up_hw());
  t.freeze();
  const Route r = t.route(0, 3);
  REQUIRE(r.size() == 1);
  CHECK(t.link(r[0]).name == "gpu0->gpu3");
  // Per peer: the profile's 100 GB/s over 7 peers.
  CHECK(t.link(r[0]).bandwidth_Bps == Approx(100e9 / 7));
  CHECK(t.latency_of(t.route(0, 3)) == SimTime::from_us(2));
  CHECK(t.route(0, 9).size() == 4);
  // A device's buffer copies use its loopback link.
  CHECK(link_names(t, t.staging_route(5)) == std::vector<std::string>{"gpu5->gpu5"});
  auto s = cluster(1, 8, "hccs-mesh-roce");
  s.peer_bandwidth_Bps = 28e9;
  auto t2 = Topology::build(s, test::made_up_hw());
  t2.freeze();
  CHECK(t2.link(t2.route(0, 1)[0]).bandwidth_Bps == Approx(28e9));
}

TEST_CASE("2048 GPUs: routes are computed, not stored", "[quick][network]") {
  auto s = cluster(256, 8, "rail-fat-tree");
  auto t = Topology::build(s, test::made_up_hw());
  t.freeze();
  CHECK(t.devices() == 2048);
  CHECK(t.num_links() < 40000);
  CHECK(t.route(0, 2047).size() == 6);
  CHECK(t.route(0, 2040).size() == 4);  // same rail
}
