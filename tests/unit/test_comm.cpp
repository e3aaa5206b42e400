// Communication model: closed-form cases for both network models (per-port bottleneck and
// flow-level max-min), cases where max-min and the bottleneck bound differ, the all-to-all
// algorithms on hand-made traffic, and the validation against DeepEP's published tables
// (docs/comm-validation.md).
#include <algorithm>
#include <map>
#include <vector>

#include <catch2/catch.hpp>

#include "sim/base/counter_rng.h"
#include "sim/cli/cli.h"
#include "sim/network/a2a.h"
#include "sim/network/a2a_bench.h"
#include "sim/scenario/a2a_scenario.h"
#include "sim/scenario/simulation.h"
#include "sim/network/dispatch_traffic.h"
#include "sim/network/network_model.h"
#include "test_helpers.h"

#include "network_fixtures.h"

using namespace moesim;

namespace {

Topology frozen(int64_t nodes, int64_t per_node, std::string generator = "nvswitch-fat-tree") {
  TopologySpec s;
  s.generator = std::move(generator);
  s.nodes = nodes;
  s.devices_per_node = per_node;
  auto t = Topology::build(s, test::made_up_hw());
  t.freeze();
  return t;
}

FlowSet flows(const Topology& t, const std::vector<test::Send>& v) { return test::fewest_hop_flows(t, v); }

// Runs both models; returns {bottleneck, flow (exact), flow (default tolerance)} durations in us.
std::array<double, 3> both(const Topology& t, const FlowSet& f, SimTime fixed = SimTime()) {
  BottleneckModel b(t);
  FlowModel exact(t, FlowModelOptions{0.0});
  FlowModel fast(t);
  return {b.run(f, fixed).duration.us(), exact.run(f, fixed).duration.us(), fast.run(f, fixed).duration.us()};
}

}  // namespace

TEST_CASE("comm: one flow on one link", "[quick][comm]") {
  // 1 MB from gpu0 to gpu1 in one node: 1e6 / 100e9 = 10 us, + 2 us latency = 12 us in both models.
  auto t = frozen(1, 2);
  auto d = both(t, flows(t, {{0, 1, 1e6}}));
  CHECK(d[0] == Approx(12));
  CHECK(d[1] == Approx(12));
  CHECK(d[2] == Approx(12));
}

TEST_CASE("comm: two flows sharing a link", "[quick][comm]") {
  // gpu0 sends 1 MB to gpu1 and to gpu2: its uplink carries 2 MB -> 20 us + 2 us. Max-min gives
  // each 50 GB/s; both end at 20 us.
  auto t = frozen(1, 4);
  auto d = both(t, flows(t, {{0, 1, 1e6}, {0, 2, 1e6}}));
  CHECK(d[0] == Approx(22));
  CHECK(d[1] == Approx(22));
}

TEST_CASE("comm: incast of N senders", "[quick][comm]") {
  // 7 GPUs send 1 MB each to gpu0: its downlink carries 7 MB -> 70 us + 2 us; max-min gives each
  // sender 100/7 GB/s.
  auto t = frozen(1, 8);
  std::vector<test::Send> v;
  for (int s = 1; s < 8; ++s) v.push_back({s, 0, 1e6});
  auto d = both(t, flows(t, v));
  CHECK(d[0] == Approx(72));
  CHECK(d[1] == Approx(72));
  FlowModel m(t);
  auto r = m.run(flows(t, v), SimTime());
  CHECK(r.max_link_utilization == Approx(70.0 / 72.0));
  CHECK(r.bytes_ingress == Approx(7e6));
}

TEST_CASE("comm: an oversubscribed uplink", "[quick][comm]") {
  // fat-tree, 4 nodes of 1 GPU, 2 nodes per leaf, one spine. Nodes 0 and 1 send 1 MB each to
  // nodes 2 and 3: both cross leaf0's uplink. Oversubscription 2: the uplink is 2 x 50 / 2 = 50 GB/s,
  // 2 MB -> 40 us + 4 us latency = 44 us. Non-blocking (1): 100 GB/s, so the NICs (1 MB at 50 GB/s =
  // 20 us) bound it: 24 us.
  for (double over : {2.0, 1.0}) {
    TopologySpec s;
    s.generator = "fat-tree";
    s.nodes = 4;
    s.devices_per_node = 1;
    s.nodes_per_leaf = 2;
    s.spines = 1;
    s.oversubscription = over;
    auto t = Topology::build(s, test::made_up_hw());
    t.freeze();
    auto d = both(t, flows(t, {{0, 2, 1e6}, {1, 3, 1e6}}));
    const double expect = over == 2.0 ? 44 : 24;
    CHECK(d[0] == Approx(expect));
    CHECK(d[1] == Approx(expect));
  }
}

TEST_CASE("comm: symmetric all-to-all on a full NVSwitch node", "[quick][comm]") {
  // 8 GPUs, each sends 1 MB to each of the 7 others: every uplink and downlink carries 7 MB,
  // 70 us + 2 us latency + 5 us collective latency = 77 us; max-min gives every flow 100/7 GB/s.
  auto t = frozen(1, 8);
  std::vector<test::Send> v;
  for (int s = 0; s < 8; ++s)
    for (int d = 0; d < 8; ++d)
      if (s != d) v.push_back({s, d, 1e6});
  auto d = both(t, flows(t, v), SimTime::from_us(5));
  CHECK(d[0] == Approx(77));
  CHECK(d[1] == Approx(77));
  CHECK(d[2] == Approx(77));
}

TEST_CASE("comm: max-min leaves a port idle that the bottleneck bound counts as busy", "[quick][comm]") {
  // One node of 8. A: gpu0->gpu1 1 MB and B: gpu2->gpu1 1 MB share gpu1's downlink (2 MB: the
  // bottleneck bound is 20 us + 2 us = 22 us). But gpu0 also sends 0.25 MB to gpu3, gpu4, gpu5 and
  // gpu2 to gpu6, gpu7, gpu5, so each uplink has 4 flows: max-min gives all of them 25 GB/s and
  // gpu1's downlink runs at half rate. The small flows end at 10 us (a flow that finishes early
  // frees its share); A and B have 0.75 MB left and get 50 GB/s each: 15 us more. 25 + 2 = 27 us.
  auto t = frozen(1, 8);
  std::vector<test::Send> v = {{0, 1, 1e6}, {2, 1, 1e6}, {0, 3, 0.25e6}, {0, 4, 0.25e6}, {0, 5, 0.25e6},
                               {2, 6, 0.25e6}, {2, 7, 0.25e6}, {2, 5, 0.25e6}};
  auto d = both(t, flows(t, v));
  CHECK(d[0] == Approx(22));
  CHECK(d[1] == Approx(27));
  CHECK(d[2] == Approx(27));
  FlowModel m(t, FlowModelOptions{0.0});
  CHECK(m.run(flows(t, v), SimTime()).rate_updates == 2);
}

TEST_CASE("comm: a flow that ends early hands its share to the others", "[quick][comm]") {
  // gpu0 sends 1 MB to gpu1 and 3 MB to gpu2 over its 100 GB/s uplink: 50 GB/s each until the 1 MB
  // flow ends at 20 us, then 100 GB/s for the remaining 2 MB: 20 us more. 40 + 2 = 42 us, which is
  // also the bottleneck bound (4 MB on one link): on a single shared link max-min wastes nothing.
  auto t = frozen(1, 4);
  auto d = both(t, flows(t, {{0, 1, 1e6}, {0, 2, 3e6}}));
  CHECK(d[0] == Approx(42));
  CHECK(d[1] == Approx(42));
}

TEST_CASE("comm: identical flows merge without changing the answer", "[quick][comm]") {
  auto t = frozen(1, 4);
  FlowSet f = flows(t, {{0, 1, 1e6}, {0, 1, 1e6}, {0, 2, 1e6}});
  FlowSet merged = f;
  merged.merge_identical();
  CHECK(merged.size() == 2);
  CHECK(merged.flows()[0].weight == 2.0);
  CHECK(merged.bytes_total() == Approx(3e6));
  // 3 MB through gpu0's uplink: 30 us + 2 us either way.
  FlowModel m(t, FlowModelOptions{0.0});
  CHECK(m.run(f, SimTime()).duration.us() == Approx(32));
  CHECK(m.run(merged, SimTime()).duration.us() == Approx(32));
}

TEST_CASE("comm: network model names", "[quick][comm]") {
  CHECK(parse_network_model("flow") == NetworkModelKind::Flow);
  CHECK(parse_network_model("bottleneck") == NetworkModelKind::Bottleneck);
  CHECK(!parse_network_model("packet"));
  CHECK(std::string(network_model_name(NetworkModelKind::Flow)) == "flow");
}

TEST_CASE("comm: dispatch traffic deduplicates per device and per node", "[quick][comm]") {
  // 2 nodes of 2. gpu0's token 0 goes to experts on gpu0, gpu2, gpu2, gpu3; token 1 to gpu1, gpu1.
  DispatchTrafficBuilder b(4, 2);
  const int32_t t0[] = {0, 2, 2, 3}, t1[] = {1, 1};
  b.add_token(0, t0, 4);
  b.add_token(0, t1, 2);
  const int32_t t2[] = {0};
  b.add_token(3, t2, 1);
  const DispatchTraffic tr = b.finish();
  REQUIRE(tr.device_end(0) - tr.device_begin(0) == 4);
  // to gpu0: 1 token 1 message; gpu1: 1 token 2 messages; gpu2: 1 token 2 messages; gpu3: 1 and 1.
  const auto* e = tr.device_begin(0);
  CHECK((e[0].dst == 0 && e[0].tokens == 1 && e[0].messages == 1));
  CHECK((e[1].dst == 1 && e[1].tokens == 1 && e[1].messages == 2));
  CHECK((e[2].dst == 2 && e[2].tokens == 1 && e[2].messages == 2));
  CHECK((e[3].dst == 3 && e[3].tokens == 1 && e[3].messages == 1));
  // Per node: token 0 reaches node 0 and node 1 once each, token 1 node 0: 2 and 1.
  REQUIRE(tr.node_end(0) - tr.node_begin(0) == 2);
  CHECK(tr.node_begin(0)[0].tokens == 2);
  CHECK(tr.node_begin(0)[1].tokens == 1);
  CHECK(tr.device_begin(1) == tr.device_end(1));
  CHECK(tr.device_end(3) - tr.device_begin(3) == 1);
}

TEST_CASE("comm: reach + counted messages build the same traffic as add_token, dense or sparse", "[quick][comm]") {
  // 64 devices in 8 nodes: sources reaching all of them take the scan path, a source reaching two
  // the sort path; the split interface (add_token_reach, add_messages) must give the same rows.
  const int64_t devices = 64, per_node = 8;
  DispatchTrafficBuilder whole(devices, per_node), split(devices, per_node);
  std::vector<int32_t> devs;
  for (int64_t src = 0; src < devices; ++src) {
    std::map<int32_t, int64_t> messages;
    const int64_t reach = src % 2 == 0 ? devices : 2;
    for (int64_t t = 0; t < 40; ++t) {
      devs.clear();
      for (int64_t k = 0; k < 8; ++k) devs.push_back(static_cast<int32_t>((src * 7 + t * 5 + k * 3) % reach));
      CHECK(whole.add_token(src, devs.data(), 8) == split.add_token_reach(src, devs.data(), 8));
      for (int32_t d : devs) ++messages[d];
    }
    for (auto it = messages.rbegin(); it != messages.rend(); ++it) split.add_messages(src, it->first, it->second);  // any order
  }
  const DispatchTraffic a = whole.finish(), b = split.finish();
  REQUIRE(a.to_device.size() == b.to_device.size());
  for (size_t i = 0; i < a.to_device.size(); ++i) {
    CHECK(a.to_device[i].dst == b.to_device[i].dst);
    CHECK(a.to_device[i].tokens == b.to_device[i].tokens);
    CHECK(a.to_device[i].messages == b.to_device[i].messages);
  }
  CHECK(a.device_row == b.device_row);
  REQUIRE(a.to_node.size() == b.to_node.size());
  for (size_t i = 0; i < a.to_node.size(); ++i) CHECK((a.to_node[i].node == b.to_node[i].node && a.to_node[i].tokens == b.to_node[i].tokens));
  // Rows ascend by destination on both paths (source 0 reaches all 64 devices, source 1 two).
  CHECK(a.device_end(0) - a.device_begin(0) == devices);
  CHECK(a.device_end(1) - a.device_begin(1) == 2);
  for (const auto* e = a.device_begin(0) + 1; e != a.device_end(0); ++e) CHECK(e[-1].dst < e->dst);
}

TEST_CASE("comm: hierarchical dispatch crosses RDMA once per node, pairwise once per device", "[quick][comm][entry:deepep-normal][entry:pairwise]") {
  // 2 nodes of 2 GPUs. gpu0 has 1000 tokens, each with experts on gpu2 and gpu3 (node 1), 1 kB per
  // token copy or message.
  auto t = frozen(2, 2);
  DispatchTrafficBuilder b(4, 2);
  const int32_t devs[] = {2, 3};
  for (int i = 0; i < 1000; ++i) b.add_token(0, devs, 2);
  const DispatchTraffic tr = b.finish();
  A2aInput in{&t, &tr, A2aPhase::Dispatch, 1000.0};
  BottleneckModel m(t);
  // deepep-normal: 1 MB over RDMA gpu0 -> gpu2 (same local index): 20 us at 50 GB/s; gpu2 keeps
  // 1 MB (staged through its NVSwitch port) and forwards 1 MB to gpu3 at 100 GB/s: 20 us in all on
  // gpu2's port, concurrently. 20 us + 4 us (longest route latency) = 24 us.
  const FlowSet h = a2a_hierarchical(in);
  auto rh = m.run(h, SimTime());
  CHECK(rh.duration.us() == Approx(24));
  CHECK(rh.bytes_inter_node == Approx(1e6));
  CHECK(rh.bytes_intra_node == Approx(1e6));  // the forward to gpu3
  CHECK(rh.bytes_staged == Approx(1e6));      // gpu2's copy of its own tokens through its port
  CHECK(rh.bytes_egress == Approx(3e6));      // gpu0's NIC, gpu2's switch port twice
  CHECK(rh.bytes_ingress == rh.bytes_egress);
  // pairwise: 2 MB over gpu0's NIC: 40 us + 4 us.
  auto rp = m.run(a2a_pairwise(in), SimTime());
  CHECK(rp.duration.us() == Approx(44));
  CHECK(rp.bytes_inter_node == Approx(2e6));
  // low latency: one message per (token, expert): also 2 MB over the NIC: 44 us.
  CHECK(m.run(a2a_low_latency(in), SimTime()).duration.us() == Approx(44));
  CHECK(m.run(a2a_low_latency_rdma(in), SimTime()).duration.us() == Approx(44));
  // Combine reverses every flow: the same totals.
  in.phase = A2aPhase::Combine;
  auto rc = m.run(a2a_hierarchical(in), SimTime());
  CHECK(rc.duration.us() == Approx(24));
  CHECK(rc.bytes_inter_node == Approx(1e6));
  // And the flow model agrees on these symmetric-enough cases.
  FlowModel f(t, FlowModelOptions{0.0});
  CHECK(f.run(h, SimTime()).duration.us() == Approx(24));
}

TEST_CASE("comm: low-latency messages take NVLink inside a node, the pure-RDMA variant the NIC", "[quick][comm][entry:deepep-low-latency][entry:deepep-low-latency-rdma]") {
  // One node of 2: gpu0 sends 1000 messages of 1 kB to gpu1. Pure RDMA: NIC 50 GB/s, 20 us + 4 us;
  // NVLink (as pairwise): NVSwitch 100 GB/s, 10 us + 2 us.
  auto t = frozen(1, 2);
  DispatchTrafficBuilder b(2, 2);
  const int32_t devs[] = {1};
  for (int i = 0; i < 1000; ++i) b.add_token(0, devs, 1);
  const DispatchTraffic tr = b.finish();
  A2aInput in{&t, &tr, A2aPhase::Dispatch, 1000.0};
  BottleneckModel m(t);
  CHECK(m.run(a2a_low_latency_rdma(in), SimTime()).duration.us() == Approx(24));
  CHECK(m.run(a2a_low_latency(in), SimTime()).duration.us() == Approx(12));
  CHECK(m.run(a2a_pairwise(in), SimTime()).duration.us() == Approx(12));
}

TEST_CASE("comm: a kernel link limits the flows through it, and is named as the bottleneck", "[quick][comm]") {
  // One node of 2, 1 MB from gpu0 to gpu1 over NVSwitch (100 GB/s: 10 us + 2 us). Through a
  // kernel link of 20 GB/s as well: 50 us + 2 us, the kernel link the bottleneck, the wire 20% busy.
  auto t = frozen(1, 2);
  FlowSet set(t);
  const int32_t k = set.add_kernel_link("copy warps", 0, 1, 20e9);
  CHECK(set.is_kernel_link(k));
  CHECK(set.capacity_Bps(k) == Approx(20e9));
  set.add(t.route(0, 1), 0, 1, 1e6, k);
  for (const auto kind : {NetworkModelKind::Bottleneck, NetworkModelKind::Flow}) {
    NetworkModel m(t, kind, FlowModelOptions{0.0});
    const auto r = m.run(set, SimTime());
    CHECK(r.duration.us() == Approx(52));
    CHECK(r.bottleneck_is_kernel);
    CHECK(r.bottleneck_name == "gpu0->gpu1 copy warps (kernel)");
    CHECK(r.max_wire_utilization == Approx(1e6 / (100e9 * 52e-6)));
    CHECK(r.max_wire_utilization < 1.0);
  }
  // A device's copy into its own buffers is a flow through its kernel link alone.
  FlowSet self(t);
  self.add(Route(), 0, 0, 1e6, self.add_kernel_link("low-latency kernel", 0, 0, 10e9));
  const auto r = BottleneckModel(t).run(self, SimTime());
  CHECK(r.duration.us() == Approx(100));
  CHECK(r.bytes_staged == Approx(1e6));
  CHECK_THROWS_AS(self.add_kernel_link("none", 0, 0, 0.0), std::invalid_argument);
}

TEST_CASE("comm: every all-to-all algorithm is registered with a source", "[quick][comm]") {
  for (const char* n : {"pairwise", "deepep-normal", "hccl-hierarchical", "deepep-low-latency", "deepep-low-latency-rdma"}) {
    const auto* e = a2a_registry().find(n);
    REQUIRE(e);
    CHECK(!e->citation.empty());
  }
}

TEST_CASE("comm: hierarchical dispatch on an HCCS mesh uses the peer links", "[quick][comm][entry:hccl-hierarchical]") {
  // 2 nodes of 4 NPUs in hccs-mesh-roce; peer links 100/3 GB/s. gpu0: 1000 tokens of 1 kB, each to
  // gpu5, gpu6, gpu7: RDMA 1 MB to gpu4 (20 us), gpu4 forwards 1 MB to each of gpu5..7 over its own
  // peer links (1 MB at 33.3 GB/s = 30 us) and stages 0 for itself. 30 us + 4 us latency.
  auto t = frozen(2, 4, "hccs-mesh-roce");
  DispatchTrafficBuilder b(8, 4);
  const int32_t devs[] = {5, 6, 7};
  for (int i = 0; i < 1000; ++i) b.add_token(0, devs, 3);
  const DispatchTraffic tr = b.finish();
  A2aInput in{&t, &tr, A2aPhase::Dispatch, 1000.0};
  BottleneckModel m(t);
  CHECK(m.run(a2a_hierarchical(in), SimTime()).duration.us() == Approx(34));
}

namespace {

// DeepEP's benchmark on H800 + CX7: 4096 tokens per GPU, hidden 7168, 256 experts, top-8, FP8
// dispatch (hidden + one fp32 scale per 128 values counted; + int32 id and fp32 weight per top-k
// entry moved), BF16 combine; groups = nodes, top-min(nodes, 4) groups (tests/test_internode.py).
// Kernel time only (DeepEP times kernels with the profiler): no collective software latency.
// Run through `moesim comm a2a`'s scenario, which is `moesim run`'s layer planner.
Json deepep_normal(int64_t ep, const std::string& network) {
  CommA2aRequest r;
  r.hardware = test::repo_path("hw_profiles/H800.json");
  r.expert_parallel = ep;
  r.tokens_per_device = 4096;
  r.hidden = 7168;
  r.experts = 256;
  r.top_k = 8;
  r.groups = ep > 8 ? ep / 8 : 1;
  r.topk_groups = std::min<int64_t>(r.groups, 4);
  r.algorithm = "deepep-normal";
  r.distribution = "deepep-bench";
  r.network_model = network;
  r.collective_latency = "0 us";
  return run_comm_a2a(r).report;
}

// DeepEP's low-latency benchmark (pure RDMA, README at 3b1045d): 128 tokens per GPU, hidden 7168,
// top-8, 288 experts where EP divides them (tests/test_low_latency.py), else 256; FP8 messages of
// hidden + scales + 16 bytes, BF16 combine.
Json deepep_low_latency(int64_t ep) {
  CommA2aRequest r;
  r.hardware = test::repo_path("hw_profiles/H800.json");
  r.expert_parallel = ep;
  r.tokens_per_device = 128;
  r.hidden = 7168;
  r.experts = 288 % ep == 0 ? 288 : 256;
  r.top_k = 8;
  r.algorithm = "deepep-low-latency-rdma";
  r.distribution = "deepep-bench";
  r.collective_latency = "0 us";
  return run_comm_a2a(r).report;
}

}  // namespace

TEST_CASE("comm validation: DeepEP normal kernels on H800, within 10% of the published table", "[slow][comm][validation]") {
  // Source: github.com/deepseek-ai/DeepEP README (commit 3b1045d, 2025-04-22; kept in
  // docs/legacy.md): "Normal kernels with NVLink and RDMA forwarding", bottleneck bandwidth.
  struct Row {
    int64_t ep;
    double dispatch_GBps, combine_GBps;
    const char* domain;
  };
  const Row rows[] = {{8, 153, 158, "nvlink"}, {16, 43, 43, "rdma"}, {32, 58, 57, "rdma"}, {64, 51, 50, "rdma"}};
  for (const auto& row : rows)
    for (const std::string net : {"bottleneck", "flow"}) {
      INFO("EP" << row.ep << " " << net);
      const auto r = deepep_normal(row.ep, net);
      CHECK(r["GBps_domain"] == row.domain);
      CHECK(r["dispatch_GBps"].get<double>() == Approx(row.dispatch_GBps).epsilon(0.10));
      CHECK(r["combine_GBps"].get<double>() == Approx(row.combine_GBps).epsilon(0.10));
    }
}

TEST_CASE("comm validation: DeepEP low-latency kernels (pure RDMA) on H800, within 10%", "[quick][comm][validation]") {
  // Source: DeepEP README at commit 3b1045d (2025-04-22), "Low-latency kernels with pure RDMA":
  // dispatch / combine latency (us) per EP size.
  struct Row {
    int64_t ep;
    double dispatch_us, combine_us;
  };
  const Row rows[] = {{8, 163, 318}, {16, 173, 329}, {32, 182, 350}, {64, 186, 353}, {128, 192, 369}, {256, 194, 360}};
  for (const auto& row : rows) {
    INFO("EP" << row.ep);
    const auto r = deepep_low_latency(row.ep);
    CHECK(r["dispatch_us"].get<double>() == Approx(row.dispatch_us).epsilon(0.10));
    CHECK(r["combine_us"].get<double>() == Approx(row.combine_us).epsilon(0.10));
  }
}

TEST_CASE("comm: completion batching moves the flow model's answer by about its tolerance", "[quick][comm]") {
  // EP64 pairwise all-to-all with per-token routing: exact vs the default 1e-3 tolerance.
  CommA2aRequest r;
  r.hardware = test::repo_path("hw_profiles/H800.json");
  r.expert_parallel = 64;
  r.tokens_per_device = 1024;
  r.hidden = 7168;
  r.experts = 256;
  r.top_k = 8;
  r.groups = 8;
  r.topk_groups = 4;
  r.seed = 3;
  r.algorithm = "pairwise";
  r.distribution = "deepep-bench";
  r.network_model = "flow";
  r.flow_tolerance = 0;
  const Json exact = run_comm_a2a(r).report["dispatch"];
  r.flow_tolerance = 1e-3;
  const Json fast = run_comm_a2a(r).report["dispatch"];
  CHECK(fast["us"].get<double>() >= exact["us"].get<double>());
  CHECK(fast["us"].get<double>() == Approx(exact["us"].get<double>()).epsilon(0.003));
  CHECK(fast["rate_updates"].get<int64_t>() < exact["rate_updates"].get<int64_t>());
}

TEST_CASE("comm a2a and run give the same dispatch and combine for the same inputs", "[quick][comm]") {
  // Mixtral-8x7B prefill, EP8 on one H800 node, uniform routing with seed 7, fp8 dispatch: `moesim
  // run`'s first MoE layer against `moesim comm a2a` with the model's hidden size, experts and top-k.
  for (const std::string mode : {"normal", "low-latency"}) {
    const Json exp = Json::parse(R"({
      "name": "agree", "model": "mixtral-8x7b", "hardware": "H800",
      "cluster": {"nodes": 2, "devices_per_node": 8},
      "parallel": {"expert_parallel": 8},
      "workload": {"phase": "prefill", "tokens_per_device": 512, "sequence_length": 512},
      "routing": {"source": "synthetic", "distribution": "uniform", "seed": 7},
      "moe": {"dispatch_dtype": "fp8", "combine_dtype": "bf16"}
    })");
    Json e = exp;
    if (mode == "low-latency") e["moe"]["all_to_all"] = "deepep-low-latency";
    Simulation sim(parse_experiment(JsonDocument::from_json(e, "agree.json")));
    sim.freeze();
    sim.run();
    const Json run = sim.report();
    CommA2aRequest r;
    r.hardware = "H800";
    r.expert_parallel = 8;
    r.nodes = 2;
    r.tokens_per_device = 512;
    r.hidden = 4096;
    r.experts = 8;
    r.top_k = 2;
    r.seed = 7;
    r.algorithm = mode == "low-latency" ? "deepep-low-latency" : "auto";
    const Json comm = run_comm_a2a(r).report;
    INFO(mode);
    CHECK(comm["algorithm"] == run["all_to_all"]["algorithm"]);
    CHECK(comm["dispatch_bytes_per_token"] == run["all_to_all"]["dispatch_bytes_per_token"]);
    CHECK(comm["combine_bytes_per_token"] == run["all_to_all"]["combine_bytes_per_token"]);
    CHECK(comm["dispatch_us"].get<double>() == Approx(run["layers"][0]["dispatch_us"].get<double>()).epsilon(1e-12));
    CHECK(comm["combine_us"].get<double>() == Approx(run["layers"][0]["combine_us"].get<double>()).epsilon(1e-12));
    CHECK(comm["dispatch_us"].get<double>() > 0);
  }
}

TEST_CASE("comm a2a on an HCCS device takes the HCCS mesh and HCCL's algorithm, as run does", "[quick][comm]") {
  // The Ascend-910B profile's scale-up fabric is "hccs": the default topology is hccs-mesh-roce and
  // `auto` is its native hccl-hierarchical. (The device has 24 AI cores, as many as communication
  // kernels take by default under overlap: comm a2a overlaps nothing and must not refuse it.)
  CommA2aRequest r;
  r.hardware = "Ascend-910B";
  r.expert_parallel = 16;
  r.tokens_per_device = 64;
  r.hidden = 128;
  r.experts = 16;
  r.top_k = 2;
  const Json comm = run_comm_a2a(r).report;
  CHECK(comm["topology"] == "hccs-mesh-roce");
  CHECK(comm["algorithm"] == "hccl-hierarchical");
  CHECK(comm["dispatch_us"].get<double>() > 0);
}

TEST_CASE("comm a2a errors name the flag, not the JSON path of the experiment built from it", "[quick][comm]") {
  CommA2aRequest r;
  r.hardware = test::repo_path("hw_profiles/H800.json");
  r.expert_parallel = 16;
  r.tokens_per_device = int64_t{1} << 40;  // beyond the 2^24 tokens a device may hold
  r.hidden = 7168;
  r.experts = 256;
  r.top_k = 8;
  CHECK_THROWS_WITH(run_comm_a2a(r), Catch::StartsWith("--tokens: expected an integer in [1, 16777216]"));
  r.tokens_per_device = 64;
  r.expert_parallel = 3;  // does not divide the 8 GPUs of a node
  CHECK_THROWS_WITH(run_comm_a2a(r), Catch::StartsWith("--ep: expert_parallel 3 does not divide"));
  r.expert_parallel = 8;
  r.hidden = 2000000;  // beyond any model's hidden size
  CHECK_THROWS_WITH(run_comm_a2a(r), Catch::StartsWith("--hidden: expected an integer in [1, 1048576]"));
}

TEST_CASE("comm a2a flags are checked one at a time, and --tolerance only with the flow model", "[quick][comm]") {
  const std::vector<std::string> base = {"a2a", "--hardware", "H800", "--ep", "8", "--tokens", "64", "--hidden", "128", "--experts", "16", "--topk", "2"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  auto a = with({});
  a[6] = "0";  // --tokens 0
  CHECK(cli::comm(a) == 2);
  a = with({});
  a[12] = "32";  // --topk above --experts
  CHECK(cli::comm(a) == 2);
  CHECK(cli::comm(with({"--tolerance", "0.01"})) == 2);
  CHECK(cli::comm(with({"--network", "flow", "--tolerance", "0.01"})) == 0);
  CHECK(cli::comm(with({"--groups", "4", "--topk-groups", "2"})) == 0);
  CHECK(cli::comm(with({"--groups", "4"})) == 2);  // no --topk-groups: no group limit, the flag would change nothing
}

TEST_CASE("comm: the bottleneck model's streamed flows give what the kept flow set gives, bit for bit", "[quick][comm]") {
  // 3 nodes of 4 GPUs, uneven random top-3 traffic (some devices send nothing), a byte size with
  // a fraction so that the order of the additions shows in the last bits; every algorithm, both
  // phases, with and without the DeepEP kernels' limits.
  auto t = frozen(3, 4);
  DispatchTrafficBuilder b(12, 4);
  CounterRng rng(7, 1);
  for (int i = 0; i < 2000; ++i) {
    const int64_t src = i / 200;  // sources 0 to 9 in ascending order; 10 and 11 send nothing
    int32_t devs[3];
    int n = 0;
    for (int k = 0; k < 3; ++k) {
      const auto d = static_cast<int32_t>(rng.below(12));
      if (std::find(devs, devs + n, d) == devs + n) devs[n++] = d;
    }
    b.add_token(src, devs, n);
  }
  const DispatchTraffic tr = b.finish();
  CommKernelLaunch launch;
  launch.ranks = 12;
  launch.experts = 24;
  launch.top_k = 3;
  const SimTime fixed = SimTime::from_ps(1234567);
  for (const auto& entry : a2a_registry().entries())
    for (const A2aPhase phase : {A2aPhase::Dispatch, A2aPhase::Combine})
      for (const CommKernelLaunch* kernel : std::vector<const CommKernelLaunch*>{nullptr, &launch}) {
        INFO(entry.name << (phase == A2aPhase::Combine ? " combine" : " dispatch") << (kernel ? " with kernel limits" : ""));
        const A2aInput in{&t, &tr, phase, 7168.3, kernel};
        BottleneckModel kept(t), streamed(t);
        const CollectiveResult a = kept.run(collect_flows(entry.factory, in), fixed);
        const CollectiveResult s = streamed.run_streamed([&](FlowSink& out) { entry.factory(in, out); }, fixed);
        REQUIRE(a.flows > 0);
        test::check_same_result(a, s);
        // A model object is reused across collectives: a second streamed run starts clean.
        test::check_same_result(a, streamed.run_streamed([&](FlowSink& out) { entry.factory(in, out); }, fixed));
      }
  // No flows at all: the empty result, as for an empty set.
  BottleneckModel m(t);
  test::check_same_result(m.run(FlowSet(t), fixed), m.run_streamed([](FlowSink&) {}, fixed));
  // An algorithm that throws midway (a kernel link of no capacity) leaves no bytes behind.
  const A2aInput in{&t, &tr, A2aPhase::Dispatch, 1000.0, nullptr};
  auto half_then_throw = [&](FlowSink& out) {
    emit_pairwise(in, out);
    out.add_kernel_link("broken", 0, 0, 0.0);
  };
  CHECK_THROWS_AS(m.run_streamed(half_then_throw, fixed), std::invalid_argument);
  test::check_same_result(BottleneckModel(t).run(a2a_pairwise(in), fixed), m.run_streamed([&](FlowSink& out) { emit_pairwise(in, out); }, fixed));
}
