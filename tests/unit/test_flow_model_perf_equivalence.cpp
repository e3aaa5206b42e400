// The flow model's fast paths (pruned links, per-link flow records, tournament tree, batched
// completions) against a plain reference: max-min rates by textbook progressive filling over
// every link of every route, recomputed at every single completion. Small random cases on every
// topology generator; exact mode must agree to rounding, the default tolerance only ever late.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "sim/network/flow_model.h"

#include "network_fixtures.h"

using namespace moesim;

namespace {

// splitmix64: the same numbers on every platform (std distributions are not).
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

HardwareProfile hw(Rng& rng) {
  HardwareProfile h;
  h.intra_node = {"nvswitch", 100e9 + 50e9 * rng.uniform(), SimTime::from_us(2), 0.7 + 0.3 * rng.uniform()};
  h.inter_node = {"infiniband", 25e9 + 50e9 * rng.uniform(), SimTime::from_us(4), 0.7 + 0.3 * rng.uniform()};
  return h;
}

TopologySpec random_spec(Rng& rng) {
  TopologySpec s;
  const char* generators[] = {"nvswitch-fat-tree", "rail-fat-tree", "fat-tree", "hccs-mesh-roce"};
  s.generator = generators[rng.below(4)];
  s.nodes = 1 + rng.below(5);
  s.devices_per_node = 2 * (1 + rng.below(4));
  s.nics_per_node = rng.below(2) ? s.devices_per_node / 2 : 0;
  if (s.generator == "rail-fat-tree" || s.generator == "fat-tree") {
    s.nodes += 1;
    s.nodes_per_leaf = 1 + rng.below(3);
    s.spines = rng.below(3);
    s.oversubscription = 1.0 + static_cast<double>(rng.below(3));
    // No more spines than NIC ports under a leaf (more are refused: they would carry nothing).
    const int64_t nodes_under_leaf = std::min<int64_t>(s.nodes_per_leaf, s.nodes);
    const int64_t ports_under_leaf = s.generator == "rail-fat-tree" ? nodes_under_leaf : nodes_under_leaf * std::min(s.nics(), s.devices_per_node);
    s.spines = std::min<int64_t>(s.spines, ports_under_leaf);
  }
  return s;
}

// Random flows on device routes, NIC-to-NIC routes and staging routes; some repeat an earlier
// flow exactly (merged into one weighted flow by the model) and some share its byte count.
FlowSet random_flows(const Topology& t, Rng& rng, int n) {
  FlowSet set(t);
  struct Pick {
    int kind;
    int64_t src, dst;
    double bytes;
  };
  std::vector<Pick> picks;
  const int64_t D = t.devices();
  for (int i = 0; i < n; ++i) {
    Pick p{static_cast<int>(rng.below(4)), rng.below(D), rng.below(D), 1e4 * (1 + std::floor(1000 * rng.uniform()))};
    if (!picks.empty() && rng.below(8) == 0) p = picks[static_cast<size_t>(rng.below(static_cast<int64_t>(picks.size())))];
    else if (!picks.empty() && rng.below(8) == 0) p.bytes = picks.back().bytes;
    picks.push_back(p);
    if (p.kind == 3) set.add(t.staging_route(p.src), p.src, p.src, p.bytes);
    else if (p.kind == 2) set.add(t.scale_out_route(p.src, p.dst), p.src, p.dst, p.bytes);
    else set.add(t.route(p.src, p.dst), p.src, p.dst, p.bytes);
  }
  return set;
}

// Textbook max-min: fill the link of least fair share, freeze its flows, repeat; then run to the
// next completion and start over. Returns when the last flow is done (bytes + route latency), s.
double reference_end_s(const FlowSet& set) {
  const Topology& t = set.topology();
  const auto& flows = set.flows();
  const size_t F = flows.size(), L = t.num_links();
  std::vector<double> left(F), rate(F);
  std::vector<bool> done(F, false);
  for (size_t f = 0; f < F; ++f) left[f] = flows[f].bytes;
  double now = 0, end = 0;
  for (size_t active = F; active > 0;) {
    std::vector<double> cap(L);
    std::vector<int> unfrozen(L, 0);
    std::vector<bool> frozen(done);
    for (size_t l = 0; l < L; ++l) cap[l] = t.link(static_cast<int32_t>(l)).bandwidth_Bps * t.link(static_cast<int32_t>(l)).efficiency;
    for (size_t f = 0; f < F; ++f)
      if (!done[f])
        for (int32_t h = 0; h < flows[f].hops; ++h) ++unfrozen[static_cast<size_t>(set.path(flows[f])[h])];
    for (;;) {
      size_t best = L;
      for (size_t l = 0; l < L; ++l)
        if (unfrozen[l] > 0 && (best == L || cap[l] / unfrozen[l] < cap[best] / unfrozen[best])) best = l;
      if (best == L) break;
      const double share = cap[best] / unfrozen[best];
      for (size_t f = 0; f < F; ++f) {
        const int32_t* p = set.path(flows[f]);
        if (frozen[f] || std::find(p, p + flows[f].hops, static_cast<int32_t>(best)) == p + flows[f].hops) continue;
        frozen[f] = true;
        rate[f] = share;
        for (int32_t h = 0; h < flows[f].hops; ++h) cap[static_cast<size_t>(p[h])] -= share, --unfrozen[static_cast<size_t>(p[h])];
      }
    }
    double step = std::numeric_limits<double>::infinity();
    for (size_t f = 0; f < F; ++f)
      if (!done[f]) step = std::min(step, left[f] / rate[f]);
    now += step;
    for (size_t f = 0; f < F; ++f) {
      if (done[f]) continue;
      left[f] -= rate[f] * step;
      if (left[f] <= 1e-9 * flows[f].bytes) {
        done[f] = true;
        --active;
        end = std::max(end, now + flows[f].latency.seconds());
      }
    }
  }
  return end;
}

}  // namespace

TEST_CASE("flow model: completion times match a reference progressive filling", "[quick][comm][flow]") {
  Rng rng{20240611};
  for (int c = 0; c < 60; ++c) {
    const TopologySpec spec = random_spec(rng);
    Topology t = Topology::build(spec, hw(rng));
    t.freeze();
    const FlowSet set = random_flows(t, rng, 5 + static_cast<int>(rng.below(120)));
    INFO("case " << c << ": " << spec.generator << ", " << spec.nodes << " x " << spec.devices_per_node << ", " << set.size() << " flows");
    const double ref_us = reference_end_s(set) * 1e6 + 5.0;
    FlowModel exact(t, FlowModelOptions{0.0});
    FlowModel batched(t);
    const double exact_us = exact.run(set, SimTime::from_us(5)).duration.us();
    const double batched_us = batched.run(set, SimTime::from_us(5)).duration.us();
    CHECK(exact_us == Approx(ref_us).epsilon(1e-7));
    // Batching finishes flows up to 0.1% of the elapsed time late, never early.
    CHECK(batched_us >= ref_us * (1 - 1e-7));
    CHECK(batched_us <= ref_us * 1.003);
  }
}

TEST_CASE("flow model: results are reproducible and a reused model keeps no state", "[quick][comm][flow]") {
  Rng rng{7};
  for (int c = 0; c < 10; ++c) {
    Topology t = Topology::build(random_spec(rng), hw(rng));
    t.freeze();
    const FlowSet a = random_flows(t, rng, 80), b = random_flows(t, rng, 30);
    FlowModel reused(t), fresh(t);
    const CollectiveResult first = reused.run(a, SimTime());
    reused.run(b, SimTime());
    test::check_same_result(reused.run(a, SimTime()), first);
    test::check_same_result(fresh.run(a, SimTime()), first);
  }
}

TEST_CASE("flow model: a link with the same flows as a slower one does not bind", "[quick][comm][flow]") {
  // rail-fat-tree, one node per leaf, one spine, oversubscription 2: a NIC port's uplink (50 GB/s)
  // carries exactly the flows of its leaf's 25 GB/s uplink to the spine, which binds. gpu0 sends
  // 1 MB to gpu2 and gpu3 (other nodes): 2 MB at 25 GB/s = 80 us, + 4 us route latency.
  TopologySpec s;
  s.generator = "rail-fat-tree";
  s.nodes = 4;
  s.devices_per_node = 1;
  s.nodes_per_leaf = 1;
  s.spines = 1;
  s.oversubscription = 2;
  Topology t = Topology::build(s, test::made_up_hw());
  t.freeze();
  FlowSet set(t);
  set.add(t.route(0, 2), 0, 2, 1e6);
  set.add(t.route(0, 3), 0, 3, 1e6);
  FlowModel m(t, FlowModelOptions{0.0});
  CHECK(m.run(set, SimTime()).duration.us() == Approx(84));
  CHECK(reference_end_s(set) * 1e6 == Approx(84));
}
