// Expert placement worked by hand: one closed-form case per policy of placement_registry(), with
// the arithmetic in a comment, and the errors of the "file" policy. Rank loads below are the sum
// of the per-copy loads a rank holds (an expert's load split evenly over its copies).
#include <catch2/catch.hpp>

#include <stdexcept>

#include "sim/io/errors.h"
#include "sim/moe/placement.h"
#include "test_helpers.h"

using namespace moesim;

namespace {

using Slots = std::vector<std::vector<int32_t>>;

LayerPlacement place(const std::string& policy, const PlacementRequest& r, int64_t layer = 0) {
  const auto* e = placement_registry().find(policy);
  REQUIRE(e);
  return e->factory(r, layer);
}

PlacementRequest request(int64_t experts, int64_t ep, int64_t redundant, std::vector<double> loads = {}) {
  PlacementRequest r;
  r.num_experts = experts;
  r.expert_parallel = ep;
  r.redundant_experts = redundant;
  if (!loads.empty()) r.layer_loads = {std::move(loads)};
  return r;
}

// The review's example: 8 experts with loads {8,4,2,1,1,1,1,1} (19 in all), EP4, 4 redundant slots.
const std::vector<double> kLoads = {8, 4, 2, 1, 1, 1, 1, 1};

}  // namespace

TEST_CASE("placement contiguous: rank r holds experts r*E/EP to (r+1)*E/EP - 1", "[quick][placement][entry:contiguous]") {
  // 8 experts over EP4: 8 / 4 = 2 per rank, in order.
  const auto p = place("contiguous", request(8, 4, 0));
  CHECK(p.rank_slots == Slots{{0, 1}, {2, 3}, {4, 5}, {6, 7}});
  CHECK(p.expert_ranks == Slots{{0}, {0}, {1}, {1}, {2}, {2}, {3}, {3}});
  // Loads are ignored: the heavy experts 0 and 1 share rank 0 (8 + 4 = 12 of 19).
  CHECK(place("contiguous", request(8, 4, 0, kLoads)).rank_slots == p.rank_slots);
  CHECK_THROWS_WITH(place("contiguous", request(8, 4, 4)), Catch::Contains("no redundant experts"));
}

TEST_CASE("placement round-robin: expert e on rank e mod EP", "[quick][placement][entry:round-robin]") {
  // 8 experts over EP4: rank r holds r and r + 4.
  const auto p = place("round-robin", request(8, 4, 0));
  CHECK(p.rank_slots == Slots{{0, 4}, {1, 5}, {2, 6}, {3, 7}});
  CHECK(p.expert_ranks == Slots{{0}, {1}, {2}, {3}, {0}, {1}, {2}, {3}});
  CHECK_THROWS_WITH(place("round-robin", request(8, 4, 4)), Catch::Contains("no redundant experts"));
}

TEST_CASE("placement greedy: heaviest expert first onto the least-loaded rank", "[quick][placement][entry:greedy]") {
  // 6 experts with loads {5,4,3,3,2,1} (18 in all) over EP3, 2 slots per rank, no redundancy:
  // longest processing time first. 5 -> r0; 4 -> r1; 3 -> r2; 3 -> r2 (3 is least, r2 full at 6);
  // 2 -> r1 (4 < 5; full at 6); 1 -> r0 (the only one with room; 6). Every rank carries 6 = 18 / 3,
  // where contiguous would give 9, 6, 3.
  const auto p = place("greedy", request(6, 3, 0, {5, 4, 3, 3, 2, 1}));
  CHECK(p.rank_slots == Slots{{0, 5}, {1, 4}, {2, 3}});
  CHECK(place("contiguous", request(6, 3, 0)).rank_slots == Slots{{0, 1}, {2, 3}, {4, 5}});
  // With redundant slots it is the same algorithm as eplb-global (see that case).
  CHECK(place("greedy", request(8, 4, 4, kLoads)).rank_slots == place("eplb-global", request(8, 4, 4, kLoads)).rank_slots);
  // Without loads every expert weighs 1 and ties go to the first rank: 0..5 land on r0, r1, r2,
  // r0, r1, r2.
  CHECK(place("greedy", request(6, 3, 0)).rank_slots == Slots{{0, 3}, {1, 4}, {2, 5}});
}

TEST_CASE("placement eplb-global: the heaviest experts replicated, copies balanced over all ranks", "[quick][placement][entry:eplb-global]") {
  // Loads {8,4,2,1,1,1,1,1}, EP4, 4 redundant: 12 slots, 3 per rank.
  // 1. Each extra copy goes to the expert with the most load per copy (first on ties), as EPLB's
  //    replicate_experts: e0 8 -> 2 copies (4 each); e0 4 = e1 4, first wins -> e0 3 copies (2.67);
  //    e1 4 -> 2 copies (2); e0 2.67 -> 4 copies (2). Copies: e0 x4 at 2, e1 x2 at 2, e2 at 2,
  //    e3..e7 at 1: 4 + 2 + 1 + 5 = 12.
  // 2. Copies heaviest first (stable) onto the least-loaded rank with room, avoiding a second copy
  //    of an expert on one rank: e0 -> r0, r1, r2, r3 (2 each); e1 -> r0 (4), e1 -> r1 (r0 holds
  //    e1; 4); e2 -> r2 (4); e3 -> r3 (3); e4 -> r3 (4, full); e5 -> r0 (5, full); e6 -> r1 (5,
  //    full); e7 -> r2 (5, full).
  // Rank loads 5, 5, 5, 4: the bound is ceil(19 / 4) = 5 with whole light experts. Without copies
  // (greedy with 0 redundant slots, 2 per rank) e0 alone would load its rank with 8.
  const auto p = place("eplb-global", request(8, 4, 4, kLoads));
  CHECK(p.rank_slots == Slots{{0, 1, 5}, {0, 1, 6}, {0, 2, 7}, {0, 3, 4}});
  CHECK(p.expert_ranks == Slots{{0, 1, 2, 3}, {0, 1}, {2}, {3}, {3}, {0}, {1}, {2}});
  const auto none = place("greedy", request(8, 4, 0, kLoads));
  CHECK(none.rank_slots == Slots{{0, 7}, {1, 6}, {2, 5}, {3, 4}});  // 8 + 1 = 9, 5, 3, 2
  // Slots must divide over the ranks: 8 + 3 over 4 does not.
  CHECK_THROWS_AS(place("eplb-global", request(8, 4, 3, kLoads)), std::invalid_argument);
}

TEST_CASE("placement eplb-hierarchical: groups packed onto nodes, copies balanced inside each node", "[quick][placement][entry:eplb-hierarchical]") {
  // Loads {8,4,2,1,1,1,1,1}, 4 groups of 2 experts, EP4 on 2 nodes of 2 ranks, 4 redundant (2 per
  // node), 3 slots per rank.
  // 1. Groups g0 {0,1} 12, g1 {2,3} 3, g2 {4,5} 2, g3 {6,7} 2, heaviest first onto the least-loaded
  //    node holding fewer than 4 / 2 = 2 groups: g0 -> n0 (12); g1 -> n1 (3); g2 -> n1 (3 < 12; 5,
  //    full); g3 -> n0 (14). Equal group counts per node, as EPLB's balanced_packing, so node 0
  //    carries 14 of 19.
  // 2. Node 0, experts {0,1,6,7}, 2 extra copies: e0 8 -> 2 copies; e0 4 = e1 4, first wins -> e0
  //    3 copies at 2.67. Copies by load: e1 4, e0 x3 2.67, e6 1, e7 1. e1 -> r0 (4); e0 -> r1 (2.67);
  //    e0 -> r0 (r1 holds e0; 6.67); e0 -> r1 (both hold e0, so the least loaded; 5.33); e6 -> r1
  //    (6.33, full); e7 -> r0 (7.67, full).
  // 3. Node 1, experts {2,3,4,5}, 2 extra copies: e2 2 -> 2 copies at 1; all at 1, first wins -> e2
  //    3 copies at 0.67. Copies by load: e3, e4, e5 at 1, e2 x3. e3 -> r2 (1); e4 -> r3 (1); e5 ->
  //    r2 (2); e2 -> r3 (1.67); e2 -> r2 (r3 holds e2; 2.67, full); e2 -> r3 (2.33, full).
  const auto p = [] {
    auto r = request(8, 4, 4, kLoads);
    r.ranks_per_node = 2;
    r.num_groups = 4;
    return place("eplb-hierarchical", r);
  }();
  CHECK(p.rank_slots == Slots{{1, 0, 7}, {0, 0, 6}, {3, 5, 2}, {4, 2, 2}});
  // Every group stays on one node, so group-limited routing stays node-local.
  for (int32_t e = 0; e < 8; ++e)
    for (int32_t r : p.expert_ranks[e]) CHECK(r / 2 == (e / 2 == 0 || e / 2 == 3 ? 0 : 1));
  // With one group there is nothing to keep together: EPLB falls back to the global policy.
  auto one = request(8, 4, 4, kLoads);
  one.ranks_per_node = 2;
  one.num_groups = 1;
  CHECK(place("eplb-hierarchical", one).rank_slots == place("eplb-global", request(8, 4, 4, kLoads)).rank_slots);
}

TEST_CASE("placement file: SGLang physical_to_logical_map rows, and its errors", "[quick][placement][entry:file]") {
  // A model of 3 layers, layer 0 dense; 4 experts + 2 redundant = 6 slots over EP2: slot s on rank
  // s / 3. One row per MoE layer.
  const test::TempDir dir("placement");
  const std::vector<bool> moe = {false, true, true};
  const auto rows = load_placement_file(dir.file("p.json", R"({"physical_to_logical_map": [[0, 1, 2, 3, 0, 1], [3, 2, 1, 0, 3, 2]]})"), moe, 4, 6, 2);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].empty());
  CHECK(rows[1] == std::vector<int32_t>{0, 1, 2, 3, 0, 1});
  CHECK(rows[2] == std::vector<int32_t>{3, 2, 1, 0, 3, 2});
  PlacementRequest r = request(4, 2, 2);
  r.physical_to_logical = rows;
  const auto p1 = place("file", r, 1);
  CHECK(p1.rank_slots == Slots{{0, 1, 2}, {3, 0, 1}});
  CHECK(p1.expert_ranks == Slots{{0, 1}, {0, 1}, {0}, {1}});
  CHECK(place("file", r, 2).rank_slots == Slots{{3, 2, 1}, {0, 3, 2}});

  // One row serves every MoE layer; with one row per model layer the dense layer's row is read
  // (and checked) but not used.
  const auto single = load_placement_file(dir.file("one.json", R"({"physical_to_logical_map": [[0, 1, 2, 3, 0, 1]]})"), moe, 4, 6, 2);
  CHECK(single[1] == single[2]);
  const auto all = load_placement_file(dir.file("all.json", R"({"physical_to_logical_map": [[0, 0, 0, 0, 0, 0], [0, 1, 2, 3, 0, 1], [1, 0, 3, 2, 1, 0]]})"), moe, 4, 6, 2);
  CHECK(all[0].empty());
  CHECK(all[2] == std::vector<int32_t>{1, 0, 3, 2, 1, 0});

  // Errors: a row with the wrong slot count, an expert id out of range, a wrong row count (input
  // errors naming the JSON path); an expert with no copy (the policy names the layer).
  using test::error_of;
  CHECK_THAT(error_of([&] { load_placement_file(dir.file("short.json", R"({"physical_to_logical_map": [[0, 1, 2, 3, 0]]})"), moe, 4, 6, 2); }),
             Catch::Contains("$.physical_to_logical_map[0]") && Catch::Contains("expected 6 physical slots") && Catch::Contains("got 5"));
  CHECK_THAT(error_of([&] { load_placement_file(dir.file("range.json", R"({"physical_to_logical_map": [[0, 1, 2, 4, 0, 1]]})"), moe, 4, 6, 2); }),
             Catch::Contains("$.physical_to_logical_map[0][3]"));
  CHECK_THAT(error_of([&] { load_placement_file(dir.file("rows.json", R"({"physical_to_logical_map": [[0, 1, 2, 3, 0, 1], [0, 1, 2, 3, 0, 1], [0, 1, 2, 3, 0, 1], [0, 1, 2, 3, 0, 1]]})"), moe, 4, 6, 2); }),
             Catch::Contains("expected 1, 3 (model layers) or 2 (MoE layers) rows, got 4"));
  // An expert twice on one rank: named at its second slot (the dense layer's row is not checked).
  CHECK_THAT(error_of([&] { load_placement_file(dir.file("twice.json", R"({"physical_to_logical_map": [[0, 0, 0, 0, 0, 0], [0, 1, 2, 3, 0, 1], [1, 0, 3, 2, 1, 1]]})"), moe, 4, 6, 2); }),
             Catch::Contains("$.physical_to_logical_map[2][5]") && Catch::Contains("expert 1 is already in slot 4 of rank 1 (slots 3 to 5)"));
  r.physical_to_logical = load_placement_file(dir.file("nocopy.json", R"({"physical_to_logical_map": [[0, 1, 2, 0, 1, 2]]})"), moe, 4, 6, 2);
  CHECK_THROWS_WITH(place("file", r, 1), "placement file, layer 1: placement: expert 3 has no copy");
  CHECK_THROWS_AS(place("file", r, 1), std::invalid_argument);
}

TEST_CASE("the documented placement policies stay registered", "[quick][placement]") {
  // Experiments name these; removing one breaks users' files. (Descriptions and citations of every
  // entry, and a test of its own, are checked in test_registries.cpp.)
  for (const char* name : {"contiguous", "round-robin", "greedy", "eplb-hierarchical", "eplb-global", "file"}) {
    INFO(name);
    CHECK(placement_registry().find(name) != nullptr);
  }
}
