// The routing sources of routing_registry() on a tiny model (4 experts, top-2, 2 MoE layers, 2
// devices), worked by hand: the load each reports to load-aware placement and the experts it
// hands to a device's tokens.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "sim/scenario/experiment_config.h"
#include "sim/io/expert_counts_file.h"
#include "sim/io/routing_trace.h"
#include "sim/moe/routing_memo.h"
#include "sim/moe/routing_source.h"
#include "test_helpers.h"

using namespace moesim;

namespace {

ExperimentConfig tiny(const std::string& routing) {
  Json exp = Json::parse(R"({
    "name": "tiny", "hardware": "H100-SXM",
    "model": {"name": "tiny", "hidden_size": 4, "num_layers": 2, "vocab_size": 10,
              "attention": {"type": "gqa", "num_heads": 1, "num_kv_heads": 1, "head_dim": 4},
              "moe": {"num_experts": 4, "top_k": 2, "expert_intermediate_size": 2}},
    "cluster": {"nodes": 1, "devices_per_node": 2},
    "parallel": {"expert_parallel": 2},
    "workload": {"phase": "prefill", "tokens_per_device": 2, "sequence_length": 2}
  })");
  exp["routing"] = Json::parse(routing);
  return parse_experiment(JsonDocument::from_json(exp, "tiny.json"));
}

std::unique_ptr<RoutingSource> make(const std::string& name, const ExperimentConfig& c) {
  const auto* e = routing_registry().find(name);
  REQUIRE(e);
  return e->factory(c.routing, routing_inputs(c));
}

// The experts a source gives `tokens` tokens of (layer, micro-batch, device), one sorted set per token.
std::vector<std::vector<int32_t>> draw(const RoutingSource& s, int64_t layer, int64_t mb, int64_t device, int64_t tokens) {
  RoutingBatch b;
  b.top_k = 2;
  s.fill(layer, mb, device, tokens, b);
  REQUIRE(b.tokens == tokens);
  std::vector<std::vector<int32_t>> out;
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<int32_t> k(b.experts.begin() + 2 * t, b.experts.begin() + 2 * t + 2);
    std::sort(k.begin(), k.end());
    out.push_back(k);
  }
  return out;
}

}  // namespace

TEST_CASE("routing synthetic: Zipf(1) over 4 experts is 12/25, 6/25, 4/25, 3/25", "[quick][routing][entry:synthetic]") {
  // Zipf weights 1, 1/2, 1/3, 1/4 sum to 25/12, so the shares are 12/25, 6/25, 4/25, 3/25 on a
  // seeded per-layer permutation of the experts; uniform gives each 1/4.
  const auto c = tiny(R"({"source": "synthetic", "distribution": "zipf", "zipf_exponent": 1.0, "seed": 3})");
  const auto s = make("synthetic", c);
  for (int64_t layer : {0, 1}) {
    auto load = s->expected_load(layer);
    const auto w = zipf_weights(4, 1.0, 3, layer);
    for (int e = 0; e < 4; ++e) CHECK(load[e] == Approx(w[e] * 12.0 / 25.0).margin(1e-9));
    std::sort(load.rbegin(), load.rend());
    CHECK(load[0] == Approx(12.0 / 25).margin(1e-9));
    CHECK(load[1] == Approx(6.0 / 25).margin(1e-9));
    CHECK(load[2] == Approx(4.0 / 25).margin(1e-9));
    CHECK(load[3] == Approx(3.0 / 25).margin(1e-9));
  }
  const auto u = make("synthetic", tiny(R"({"source": "synthetic", "distribution": "uniform"})"));
  for (double p : u->expected_load(1)) CHECK(p == Approx(0.25).margin(1e-9));
  // Every token gets 2 distinct experts, and the same (seed, layer, micro-batch, device) the same ones.
  const auto a = draw(*s, 1, 0, 1, 64);
  for (const auto& k : a) CHECK((k[0] < k[1] && k[0] >= 0 && k[1] < 4));
  CHECK(draw(*s, 1, 0, 1, 64) == a);
  CHECK(s->summary()["source"] == "synthetic");
}

TEST_CASE("routing counts: draws follow each layer's counts", "[quick][routing][entry:counts]") {
  // Layer 0 counts {3,1,0,0}: shares 3/4, 1/4, 0, 0; layer 1 {0,0,2,2}. With top-2 and two experts
  // counted per layer, every token of layer 0 gets {0,1} and of layer 1 {2,3}.
  const test::TempDir dir("routing-counts");
  ExpertCounts counts;
  counts.format = "moesim-counts";
  counts.model = "tiny";
  counts.num_experts = 4;
  counts.top_k = 2;
  counts.layers = {0, 1};
  counts.counts = {{3, 1, 0, 0}, {0, 0, 2, 2}};
  auto c = tiny(R"({"source": "synthetic", "distribution": "uniform"})");
  c.routing.source = "counts";
  c.routing.file = c.routing.file_as_written = dir.path + "/counts.json";
  write_expert_counts(c.routing.file, counts);
  const auto s = make("counts", c);
  const auto l0 = s->expected_load(0), l1 = s->expected_load(1);
  CHECK(l0[0] == Approx(0.75).margin(1e-9));
  CHECK(l0[1] == Approx(0.25).margin(1e-9));
  CHECK(l0[2] == Approx(0.0).margin(1e-9));
  CHECK(l1[2] == Approx(0.5).margin(1e-9));
  CHECK(l1[3] == Approx(0.5).margin(1e-9));
  for (const auto& k : draw(*s, 0, 0, 0, 16)) CHECK(k == std::vector<int32_t>{0, 1});
  for (const auto& k : draw(*s, 1, 0, 1, 16)) CHECK(k == std::vector<int32_t>{2, 3});
  CHECK(s->summary()["source"] == "counts");
  // A counts file of another expert count is refused.
  counts.num_experts = 8;
  counts.counts = {{1, 1, 0, 0, 0, 0, 0, 0}, {1, 1, 0, 0, 0, 0, 0, 0}};
  write_expert_counts(c.routing.file, counts);
  CHECK(test::error_of([&] { make("counts", c); }).find("has 8 experts per layer but model tiny has 4") != std::string::npos);
}

TEST_CASE("routing trace: tokens laid over the devices in order, wrapping around", "[quick][routing][entry:trace]") {
  // A trace of 3 tokens; 2 devices x 2 tokens x 1 micro-batch need 4. Token i of device d in
  // micro-batch m is trace token ((m * 2 + d) * 2 + i) mod 3: device 0 gets 0, 1; device 1 gets
  // 2, 0. Loads are the trace's own counts.
  const test::TempDir dir("routing-trace");
  TraceData t;
  t.header.model = "tiny";
  t.header.source = "hand-made";
  t.header.num_experts = 4;
  t.header.top_k = 2;
  t.header.tokens = 3;
  t.header.layers = {0, 1};
  t.ids = {0, 1, /**/ 2, 3, /**/ 1, 2,  // layer 0, tokens 0..2
           3, 0, /**/ 3, 1, /**/ 3, 2}; // layer 1
  auto c = tiny(R"({"source": "synthetic", "distribution": "uniform"})");
  c.routing.source = "trace";
  c.routing.file = c.routing.file_as_written = dir.path + "/t.npz";
  write_routing_trace(c.routing.file, t);
  const auto s = make("trace", c);
  using K = std::vector<std::vector<int32_t>>;
  CHECK(draw(*s, 0, 0, 0, 2) == K{{0, 1}, {2, 3}});
  CHECK(draw(*s, 0, 0, 1, 2) == K{{1, 2}, {0, 1}});
  CHECK(draw(*s, 1, 0, 1, 2) == K{{2, 3}, {0, 3}});
  CHECK(s->expected_load(0) == std::vector<double>{1, 2, 2, 1});
  CHECK(s->expected_load(1) == std::vector<double>{1, 1, 1, 3});
  CHECK(s->summary()["wrapped"] == true);
}

TEST_CASE("routing memo: a sweep's replayed ids are the ids drawn without it, for any batch size", "[quick][routing]") {
  const auto c = tiny(R"({"source": "synthetic", "distribution": "zipf", "zipf_exponent": 1.0, "seed": 3})");
  auto& memo = SampledRoutingMemo::instance();
  memo.set_budget(0);
  const auto plain = make("synthetic", c);
  const auto drawn_64 = draw(*plain, 0, 1, 1, 64);
  memo.set_budget(size_t{1} << 20);
  const auto memoised = make("synthetic", c);  // another point of the sweep: a new source
  CHECK(draw(*memoised, 0, 1, 1, 16) == std::vector<std::vector<int32_t>>(drawn_64.begin(), drawn_64.begin() + 16));
  CHECK(draw(*memoised, 0, 1, 1, 64) == drawn_64);  // longer than what is held: drawn again and kept
  const auto again = make("synthetic", c);
  CHECK(draw(*again, 0, 1, 1, 40) == std::vector<std::vector<int32_t>>(drawn_64.begin(), drawn_64.begin() + 40));
  CHECK(draw(*again, 0, 1, 0, 64) != drawn_64);  // another device is another stream
  memo.set_budget(0);   // emptied
  memo.set_budget(64);  // 16 ids: a 64-token stream (128 ids) is drawn and not kept
  CHECK(draw(*make("synthetic", c), 0, 1, 1, 64) == drawn_64);
  memo.set_budget(0);
  CHECK(draw(*make("synthetic", c), 0, 1, 1, 64) == drawn_64);
}
