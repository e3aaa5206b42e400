// Capacity, drops, per-device deduplication and padding on a hand-made routing.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "sim/base/counter_rng.h"

#include "sim/moe/dispatch_plan.h"

using namespace moesim;

namespace {

// 2 devices (EP2, one node), 4 experts (device 0 holds 0,1; device 1 holds 2,3), top-2, 4 tokens.
//   device 0: t0 [0,1]  t1 [0,2]  t2 [2,3]  t3 [2,0]
//   device 1: t0 [2,3]  t1 [0,1]  t2 [0,2]  t3 [1,3]
std::vector<RoutingBatch> hand_routing() {
  std::vector<RoutingBatch> b(2);
  b[0].experts = {0, 1, 0, 2, 2, 3, 2, 0};
  b[1].experts = {2, 3, 0, 1, 0, 2, 1, 3};
  for (auto& x : b) x.tokens = 4, x.top_k = 2;
  return b;
}

LayerPlacement contiguous_4_over_2() {
  LayerPlacement p;
  p.rank_slots = {{0, 1}, {2, 3}};
  finalize_placement(p, 4);
  return p;
}

DispatchOptions options() {
  DispatchOptions o;
  o.num_experts = 4;
  o.top_k = 2;
  o.expert_parallel = 2;
  o.devices_per_node = 2;
  return o;
}

}  // namespace

TEST_CASE("dropless dispatch deduplicates per destination device", "[quick][dispatch]") {
  DispatchPlanner planner(options(), 2);
  const auto& r = planner.plan(hand_routing(), contiguous_4_over_2());
  // Device 0 sends t1, t2, t3 to device 1 once each (t2 has two experts there); t0 stays local.
  CHECK(r.traffic.tokens_to(0, 1) == 3);
  CHECK(r.traffic.tokens_to(1, 0) == 3);
  CHECK(r.local_tokens == 6);  // dev0: t0,t1,t3 ; dev1: t0,t2,t3
  // Expert slots: e0 = 3 (dev0) + 2 (dev1) = 5, e1 = 1 + 2 = 3, e2 = 3 + 2 = 5, e3 = 1 + 2 = 3.
  CHECK(r.slot_tokens[0] == std::vector<int64_t>{5, 3});
  CHECK(r.slot_tokens[1] == std::vector<int64_t>{5, 3});
  CHECK(r.assignments == 16);
  CHECK(r.dropped == 0);
}

TEST_CASE("capacity factor drops overflow by arrival order", "[quick][dispatch]") {
  auto o = options();
  o.capacity_factor = 1.0;  // capacity = ceil(1.0 * 4 * 2 / 4) = 2 per (source device, expert)
  DispatchPlanner planner(o, 2);
  const auto& r = planner.plan(hand_routing(), contiguous_4_over_2());
  CHECK(r.capacity == 2);
  // Device 0: e0 gets t0,t1,t3 -> t3 dropped; e2 gets t1,t2,t3 -> t3 dropped. Device 1 fits.
  CHECK(r.dropped == 2);
  CHECK(r.expert_dropped == std::vector<int64_t>{1, 0, 1, 0});
  CHECK(r.traffic.tokens_to(0, 1) == 2);  // t3 of device 0 is no longer sent
  CHECK(r.slot_tokens[0] == std::vector<int64_t>{4, 3});
  CHECK(r.slot_tokens[1] == std::vector<int64_t>{4, 3});
}

TEST_CASE("lowest-weight drop policy keeps the strongest assignments", "[quick][dispatch]") {
  auto o = options();
  o.capacity_factor = 1.0;
  o.drop_lowest_weight = true;
  auto b = hand_routing();
  // Device 0, expert 0: t0 weight 0.1, t1 0.5, t3 0.9 -> t0's is dropped, not t3's.
  b[0].weights = {0.1f, 0.9f, 0.5f, 0.5f, 0.6f, 0.4f, 0.1f, 0.9f};
  b[1].weights = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
  DispatchPlanner planner(o, 2);
  const auto& r = planner.plan(b, contiguous_4_over_2());
  // Expert 2 on device 0: t1 0.5, t2 0.6, t3 0.1 -> t3's dropped.
  CHECK(r.dropped == 2);
  CHECK(r.expert_dropped == std::vector<int64_t>{1, 0, 1, 0});
  // t3 of device 0 keeps expert 0 (local) and loses expert 2: nothing goes to device 1 for it,
  // and t0 loses expert 0 but keeps expert 1 (local).
  CHECK(r.traffic.tokens_to(0, 1) == 2);
}

TEST_CASE("padded dispatch charges full capacity slots", "[quick][dispatch]") {
  auto o = options();
  o.capacity_factor = 1.0;
  o.padded = true;
  DispatchPlanner planner(o, 2);
  const auto& r = planner.plan(hand_routing(), contiguous_4_over_2());
  // Each source sends capacity 2 slots to each remote expert: 2 experts x 2 = 4 slots.
  CHECK(r.traffic.tokens_to(0, 1) == 4);
  CHECK(r.traffic.tokens_to(1, 0) == 4);
  // Every expert computes 2 sources x 2 slots.
  CHECK(r.slot_tokens[0] == std::vector<int64_t>{4, 4});
  CHECK(r.slot_tokens[1] == std::vector<int64_t>{4, 4});
}

TEST_CASE("replicated experts split their tokens, preferring the local copy", "[quick][dispatch]") {
  LayerPlacement p;
  p.rank_slots = {{0, 1, 2}, {2, 3, 0}};  // experts 0 and 2 have a copy on both devices
  finalize_placement(p, 4);
  DispatchPlanner planner(options(), 2);
  const auto& r = planner.plan(hand_routing(), p);
  // Device 0 routes e0 and e2 locally; only e3 (t2) leaves. Device 1 keeps e0, e2 local and
  // sends e1 (t1, t3) to device 0.
  CHECK(r.traffic.tokens_to(0, 1) == 1);
  CHECK(r.traffic.tokens_to(1, 0) == 2);
  int64_t total = 0;
  for (const auto& dev : r.slot_tokens)
    for (int64_t n : dev) total += n;
  CHECK(total == 16);
}

TEST_CASE("expert capacity is ceil(cf * tokens * top_k / experts)", "[quick][dispatch]") {
  CHECK(expert_capacity(1.0, 4096, 8, 256) == 128);
  CHECK(expert_capacity(1.25, 4096, 8, 256) == 160);
  CHECK(expert_capacity(1.0, 10, 2, 8) == 3);
}

namespace {

// The rank that token t of device d sends expert e to, by the rule DispatchPlanner documents: its
// only copy; else the source's own rank if it holds one; else the copies on the source's node
// (at most 64), else all copies, the token's index mod their number choosing one.
int64_t reference_rank(const LayerPlacement& p, const DispatchOptions& o, int64_t d, int64_t t, int32_t e) {
  const auto& copies = p.expert_ranks[static_cast<size_t>(e)];
  const int64_t group = o.expert_parallel * o.expert_tensor_parallel, base = (d / group) * group;
  const int64_t my_rank = (d - base) / o.expert_tensor_parallel;
  if (copies.size() == 1) return copies[0];
  if (std::find(copies.begin(), copies.end(), my_rank) != copies.end()) return my_rank;
  std::vector<int64_t> same_node;
  for (int32_t r : copies)
    if ((base + r * o.expert_tensor_parallel) / o.devices_per_node == d / o.devices_per_node && same_node.size() < 64) same_node.push_back(r);
  if (same_node.empty()) same_node.assign(copies.begin(), copies.end());
  return same_node[static_cast<size_t>(t) % same_node.size()];
}

// What the planner must produce, counted the plain way: per token, the set of devices and nodes
// its kept experts live on (the copy reference_rank picks, ETP devices per rank), capacity by
// arrival order per (source device, expert).
struct Reference {
  std::map<std::pair<int64_t, int64_t>, int64_t> device_tokens, node_tokens;
  int64_t routed = 0, token_nodes = 0, max_nodes = 0, dropped = 0;
  std::vector<int64_t> expert_load;  // kept assignments per expert
};

Reference reference_plan(const std::vector<RoutingBatch>& batches, const DispatchOptions& o, const LayerPlacement& p, int64_t cap) {
  Reference ref;
  ref.expert_load.assign(static_cast<size_t>(o.num_experts), 0);
  const int64_t group = o.expert_parallel * o.expert_tensor_parallel;
  for (int64_t d = 0; d < static_cast<int64_t>(batches.size()); ++d) {
    const RoutingBatch& b = batches[d];
    std::map<int32_t, int64_t> arrivals;
    for (int64_t t = 0; t < b.tokens; ++t) {
      std::set<int64_t> devices, nodes;
      for (int k = 0; k < b.top_k; ++k) {
        const int32_t e = b.experts[t * b.top_k + k];
        if (++arrivals[e] > cap) {
          ++ref.dropped;
          continue;
        }
        ++ref.expert_load[static_cast<size_t>(e)];
        for (int64_t tp = 0; tp < o.expert_tensor_parallel; ++tp) {
          const int64_t dst = (d / group) * group + reference_rank(p, o, d, t, e) * o.expert_tensor_parallel + tp;
          devices.insert(dst);
          nodes.insert(dst / o.devices_per_node);
        }
      }
      for (int64_t dst : devices) ++ref.device_tokens[{d, dst}];
      for (int64_t n : nodes) ++ref.node_tokens[{d, n}];
      const auto n = static_cast<int64_t>(nodes.size());
      ref.routed += n > 0;
      ref.token_nodes += n;
      ref.max_nodes = std::max(ref.max_nodes, n);
    }
  }
  return ref;
}

// redundant: extra copies of experts 0..redundant-1 (the hottest: ids are skewed low), in the
// last slots, so that they sit on other ranks than the originals.
void check_against_reference(int64_t devices, int64_t ep, int64_t etp, std::optional<double> cf, int64_t top_k = 6, int64_t redundant = 0,
                             int64_t devices_per_node = 8) {
  DispatchOptions o;
  o.num_experts = 64;
  o.top_k = top_k;
  o.expert_parallel = ep;
  o.expert_tensor_parallel = etp;
  o.devices_per_node = devices_per_node;
  o.capacity_factor = cf;
  const int64_t tokens = 700;  // more than 255 tokens per source: the bit-sliced counts are emptied mid-source
  std::vector<RoutingBatch> batches(static_cast<size_t>(devices));
  CounterRng rng(7, static_cast<uint64_t>(devices), static_cast<uint64_t>(etp));
  for (auto& b : batches) {
    b.tokens = tokens, b.top_k = top_k;
    for (int64_t t = 0; t < tokens; ++t) {
      std::vector<int32_t> ids;
      while (std::ssize(ids) < top_k) {  // skewed toward low ids, so that capacity drops some
        const auto e = static_cast<int32_t>(std::min(rng.below(64), rng.below(64)));
        if (std::find(ids.begin(), ids.end(), e) == ids.end()) ids.push_back(e);
      }
      b.experts.insert(b.experts.end(), ids.begin(), ids.end());
    }
  }
  LayerPlacement p;
  const int64_t per_rank = (64 + redundant) / ep;
  for (int64_t r = 0; r < ep; ++r) {
    p.rank_slots.emplace_back();
    for (int64_t s = r * per_rank; s < (r + 1) * per_rank; ++s) p.rank_slots.back().push_back(static_cast<int32_t>(s < 64 ? s : s - 64));
  }
  finalize_placement(p, 64);
  DispatchPlanner planner(o, devices);
  const auto& r = planner.plan(batches, p);
  const int64_t cap = cf ? expert_capacity(*cf, tokens, top_k, 64) : INT64_MAX;
  const Reference ref = reference_plan(batches, o, p, cap);
  CHECK(r.dropped == ref.dropped);
  CHECK(r.routed_tokens == ref.routed);
  CHECK(r.token_nodes == ref.token_nodes);
  CHECK(r.max_token_nodes == ref.max_nodes);
  CHECK(r.expert_load == ref.expert_load);
  std::map<std::pair<int64_t, int64_t>, int64_t> device_tokens, node_tokens;
  for (int64_t s = 0; s < devices; ++s) {
    for (const auto* e = r.traffic.device_begin(s); e != r.traffic.device_end(s); ++e)
      if (e->tokens > 0) device_tokens[{s, e->dst}] = e->tokens;
    for (const auto* e = r.traffic.node_begin(s); e != r.traffic.node_end(s); ++e)
      if (e->tokens > 0) node_tokens[{s, e->node}] = e->tokens;
  }
  CHECK(device_tokens == ref.device_tokens);
  CHECK(node_tokens == ref.node_tokens);
}

}  // namespace

// Up to 64 devices a token's devices are a 64-bit set (bit-sliced counts), above it a list
// deduplicated by stamps: both must count what the plain reference counts. Dropless with one copy
// per expert takes the table path, its devices and nodes packed in one word when devices + nodes
// <= 64 (16 and 32 devices), in two words otherwise (64 devices), top-8 unrolled.
TEST_CASE("dispatch dedup matches a plain count, with and without the 64-device set path", "[quick][dispatch]") {
  SECTION("16 devices, EP16, dropless") { check_against_reference(16, 16, 1, std::nullopt); }
  SECTION("32 devices, EP8 x ETP2, two EP groups, capacity 1.0") { check_against_reference(32, 8, 2, 1.0); }
  SECTION("64 devices, EP64, capacity 1.25") { check_against_reference(64, 64, 1, 1.25); }
  SECTION("32 devices, EP32, dropless, top-8") { check_against_reference(32, 32, 1, std::nullopt, 8); }
  SECTION("64 devices, EP64, dropless, top-8") { check_against_reference(64, 64, 1, std::nullopt, 8); }
  SECTION("64 devices, EP32, two EP groups, dropless") { check_against_reference(64, 32, 1, std::nullopt); }
  // More than 8 nodes: the nodes a token reaches are counted without the byte table.
  SECTION("48 devices, 4 per node (12 nodes), EP48 x ETP1, 32 copies, dropless, top-8") { check_against_reference(48, 48, 1, std::nullopt, 8, 32, 4); }
  SECTION("32 devices, 2 per node (16 nodes), EP32, dropless, top-8") { check_against_reference(32, 32, 1, std::nullopt, 8, 0, 2); }
  // Redundant copies: a token's copy chosen per token (own rank, same node, else any).
  SECTION("32 devices, EP32, 32 redundant, dropless, top-8") { check_against_reference(32, 32, 1, std::nullopt, 8, 32); }
  SECTION("96 devices, EP96, 32 redundant (one expert per rank), dropless, top-8") { check_against_reference(96, 96, 1, std::nullopt, 8, 32); }
  SECTION("128 devices, EP64 x ETP2, 64 redundant, capacity 1.0") { check_against_reference(128, 64, 2, 1.0, 6, 64); }
  SECTION("16 devices, EP8 x ETP2, 16 redundant, dropless") { check_against_reference(16, 8, 2, std::nullopt, 6, 16); }
  SECTION("96 devices, EP32, three EP groups, dropless") { check_against_reference(96, 32, 1, std::nullopt); }
  SECTION("128 devices, EP64 x ETP2, capacity 1.0") { check_against_reference(128, 64, 2, 1.0); }
}
