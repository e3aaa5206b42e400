// Whole runs: invariants on every golden experiment, byte-identical goldens and a short summary
// of each beside it to read in a diff (regenerate both on purpose with MOESIM_UPDATE_GOLDEN=1),
// determinism, and behaviour that must hold (overlap helps, more capacity drops less, a layout
// that cannot fit reports its overflow).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "sim/io/routing_trace.h"
#include "sim/scenario/simulation.h"
#include "test_helpers.h"

using namespace moesim;

namespace {

Json run(const std::string& path, const std::vector<std::string>& overrides = {}, int threads = 1) {
  Simulation sim(load_experiment(path, overrides), threads);
  sim.set_threads(threads);
  sim.freeze();
  sim.run();
  return sim.report();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void check_invariants(const Json& r) {
  const auto& inv = r["invariants"];
  CHECK(inv["tokens_conserved"] == true);
  CHECK(inv["bytes_sent_equal_received"] == true);
  CHECK(inv["no_link_above_100_percent"] == true);
  CHECK(inv["hbm_non_negative"] == true);
  CHECK(r["step_time_us"].get<double>() > 0);
  // The layer times of each pipeline stage account for the step, up to time spent waiting on
  // other devices.
  std::map<int64_t, double> per_stage;
  for (const auto& l : r["layers"]) per_stage[l["stage"].get<int64_t>()] += l["layer_time_us"].get<double>();
  for (const auto& [stage, t] : per_stage) CHECK(t <= r["step_time_us"].get<double>() * (1 + 1e-9));
}

const char* kGoldens[] = {"mixtral-ep8-decode", "deepseek-prefill-padded", "olmoe-training-pp2"};

// What a reviewer reads of a golden run, in about 45 lines: step time, the breakdown of the
// critical device, all-to-all totals, drops, whether HBM fits, and the invariants.
Json summary_of(const Json& r) {
  Json s;
  s["experiment"] = r["experiment"]["name"];
  s["step_time_us"] = r["step_time_us"];
  s["tokens_per_step"] = r["tokens_per_step"];
  s["critical_device"] = r["critical_device"];
  s["breakdown_us"] = r["breakdown_us"];
  const auto& a = r["all_to_all"];
  s["all_to_all"] = {{"algorithm", a["algorithm"]},
                     {"network_model", a["network_model"]},
                     {"dispatch_bytes_intra_node", a["dispatch_bytes_intra_node"]},
                     {"dispatch_bytes_inter_node", a["dispatch_bytes_inter_node"]},
                     {"combine_bytes_intra_node", a["combine_bytes_intra_node"]},
                     {"combine_bytes_inter_node", a["combine_bytes_inter_node"]}};
  const auto& d = r["drops"];
  s["drops"] = {{"assignments", d["assignments"]}, {"tokens_dropped", d["tokens_dropped"]}, {"drop_fraction", d["drop_fraction"]}};
  const auto& h = r["hbm"];
  s["hbm"] = {{"fits", h["fits"]},
              {"max_device", h["max_device"]},
              {"max_device_total_bytes", h["max_device_total_bytes"]},
              {"usable_bytes", h["usable_bytes"]},
              {"overflow_bytes", h["overflow_bytes"]}};
  s["invariants"] = r["invariants"];
  return s;
}

// Compares `text` with the golden file, or writes it there under MOESIM_UPDATE_GOLDEN.
void compare_or_update(const std::string& rel, const std::string& text) {
  const std::string golden = test::repo_path(rel);
  if (std::getenv("MOESIM_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(golden) << text;
    WARN("updated " << golden);
  } else {
    REQUIRE(read_text(golden) == text);
  }
}

}  // namespace

TEST_CASE("golden reports are reproduced byte for byte", "[quick][golden]") {
  for (const char* name : kGoldens) {
    INFO(name);
    const std::string exp = "tests/golden/" + std::string(name) + ".json";
    // Paths as a user writes them, relative to the repository root (ctest's working folder).
    const Json r = run(test::repo_path(exp));
    check_invariants(r);
    // The summary first: when both differ, its diff is the one to read.
    compare_or_update("tests/golden/" + std::string(name) + ".summary.json", summary_of(r).dump(1) + "\n");
    compare_or_update("tests/golden/" + std::string(name) + ".report.json", r.dump(1) + "\n");
  }
}

TEST_CASE("the same inputs and seed give identical reports", "[quick][simulation]") {
  const auto path = test::repo_path("tests/golden/mixtral-ep8-decode.json");
  CHECK(run(path).dump() == run(path).dump());
  CHECK(run(path).dump() != run(path, {"routing.seed=12"}).dump());
}

TEST_CASE("reports do not depend on the number of threads", "[slow][simulation]") {
  for (const char* name : kGoldens) {
    INFO(name);
    const auto path = test::repo_path("tests/golden/" + std::string(name) + ".json");
    const std::string one = run(path, {}, 1).dump();
    CHECK(run(path, {}, 2).dump() == one);
    CHECK(run(path, {}, 5).dump() == one);
  }
  // The flow-level network model keeps per-run state in each thread's copy.
  const auto path = test::repo_path("tests/golden/deepseek-prefill-padded.json");
  CHECK(run(path, {"cluster.network_model=flow"}, 1).dump() == run(path, {"cluster.network_model=flow"}, 3).dump());
}

// With two setup threads the cost model is built beside the routing source and placements: when
// both fail, the error is still the cost model's, as when they are built in order.
TEST_CASE("a scenario set up on two threads reports the first error of the sequential order", "[quick][simulation]") {
  const test::TempDir dir("setup-threads");
  TraceData t;  // 8 experts: refused for DeepSeek-V3's 256 when the routing source is built
  t.header.model = "other";
  t.header.num_experts = 8;
  t.header.top_k = 2;
  t.header.tokens = 1;
  t.header.layers = {3};
  t.ids = {0, 1};
  write_routing_trace(dir.path + "/t.npz", t);
  const std::vector<std::string> overrides = {"hardware=H20", "compute.expert_backend=cublas-grouped",
                                              "routing={\"source\": \"trace\", \"file\": \"" + dir.path + "/t.npz\"}"};
  const auto path = test::repo_path("experiments/default.json");
  auto error = [&](int threads) { return test::error_of([&] { Simulation sim(load_experiment(path, overrides), threads); }); };
  CHECK_THAT(error(1), Catch::Matchers::Contains("no calibration table"));
  CHECK(error(2) == error(1));
  // Without the cost model's error, the routing source's.
  auto routing_only = overrides;
  routing_only.erase(routing_only.begin(), routing_only.begin() + 2);
  const std::string routing_error = test::error_of([&] { Simulation sim(load_experiment(path, routing_only), 2); });
  CHECK_THAT(routing_error, Catch::Matchers::Contains("8 experts but model deepseek-v3 has 256"));
}

TEST_CASE("two-microbatch overlap hides communication", "[quick][simulation]") {
  const auto path = test::repo_path("tests/golden/deepseek-prefill-padded.json");
  const Json overlap = run(path);
  const Json none = run(path, {"schedule.overlap=none"});
  check_invariants(overlap);
  check_invariants(none);
  CHECK(overlap["step_time_us"].get<double>() < none["step_time_us"].get<double>());
  CHECK(overlap["breakdown_us"]["exposed_comm"].get<double>() < none["breakdown_us"]["exposed_comm"].get<double>());
  // Without overlap every collective is exposed.
  const auto& b = none["breakdown_us"];
  CHECK(b["exposed_comm"].get<double>() == Approx(b["dispatch"].get<double>() + b["combine"].get<double>()));
}

TEST_CASE("forward/backward chunk overlap hides training communication", "[quick][simulation]") {
  // OLMoE training, 2 stages of EP8, 4 micro-batches: micro-batch i's forward runs beside i-1's
  // backward; only the first forward and the last backward chunk have no partner.
  const auto path = test::repo_path("tests/golden/olmoe-training-pp2.json");
  const Json paired = run(path, {"schedule.overlap=fwd-bwd-overlap"});
  const Json none = run(path, {"schedule.overlap=none"});
  const Json two = run(path, {"schedule.overlap=two-microbatch"});
  check_invariants(paired);
  CHECK(paired["step_time_us"].get<double>() < none["step_time_us"].get<double>());
  const double exposed = paired["breakdown_us"]["exposed_comm"].get<double>();
  const double comm = paired["breakdown_us"]["dispatch"].get<double>() + paired["breakdown_us"]["combine"].get<double>();
  CHECK(exposed < none["breakdown_us"]["exposed_comm"].get<double>());
  // The unpaired chunks are 1 of 4 forwards and 1 of 4 backwards: at least that much stays exposed.
  CHECK(exposed > 0.1 * comm);
  CHECK(exposed < 0.75 * comm);
  for (const auto& l : paired["layers"]) CHECK(l["exposed_comm_us"].get<double>() >= 0);
  // Activations: one extra micro-batch in flight, not twice as many.
  const double hbm_none = none["hbm"]["devices"][0]["total_bytes"].get<double>();
  const double hbm_paired = paired["hbm"]["devices"][0]["total_bytes"].get<double>();
  const double hbm_two = two["hbm"]["devices"][0]["total_bytes"].get<double>();
  CHECK(hbm_none < hbm_paired);
  CHECK(hbm_paired < hbm_two);
  CHECK(paired["experiment"]["schedule"]["overlap"] == "fwd-bwd-overlap");
}

TEST_CASE("drop fraction falls as the capacity factor grows", "[quick][simulation]") {
  const auto path = test::repo_path("tests/golden/mixtral-ep8-decode.json");
  double last = 2.0;
  for (const char* cf : {"0.5", "0.75", "1.0", "1.5", "2.0", "4.0"}) {
    const Json r = run(path, {std::string("moe.capacity_factor=") + cf, "routing.distribution=zipf", "routing.zipf_exponent=1.2"});
    check_invariants(r);
    const double f = r["drops"]["drop_fraction"].get<double>();
    CHECK(f <= last);
    last = f;
  }
  CHECK(last == 0.0);
}

TEST_CASE("tokens per second is tokens per step over step time", "[quick][simulation]") {
  const Json r = run(test::repo_path("tests/golden/mixtral-ep8-decode.json"));
  // 8 devices x 64 tokens x 1 micro-batch.
  CHECK(r["tokens_per_step"].get<double>() == 512.0);
  CHECK(r["tokens_per_s"].get<double>() == Approx(512.0 / (r["step_time_us"].get<double>() * 1e-6)));
}

TEST_CASE("a model's keys given as null (the default) are not echoed into the report", "[quick][simulation]") {
  std::ifstream f(test::repo_path("models/mixtral-8x7b.json"));
  Json model = Json::parse(f);
  model["tie_word_embeddings"] = nullptr;
  model["moe"]["norm_topk_prob"] = nullptr;
  const Json r = run(test::repo_path("tests/golden/mixtral-ep8-decode.json"), {"model=" + model.dump()});
  const Json& echoed = r["experiment"]["model"];
  CHECK(echoed["name"] == model["name"]);
  CHECK_FALSE(echoed.contains("tie_word_embeddings"));
  CHECK_FALSE(echoed["moe"].contains("norm_topk_prob"));
}

TEST_CASE("a layout that does not fit reports the overflow", "[quick][simulation]") {
  // DeepSeek-V3 in bf16 on 8 H100s: 671B params x 2 bytes = 1.34 TB >> 8 x 80 GiB.
  const Json r = run(test::repo_path("tests/golden/mixtral-ep8-decode.json"),
                     {"model=deepseek-v3", "workload.tokens_per_device=8"});
  CHECK(r["hbm"]["fits"] == false);
  CHECK(r["hbm"]["overflow_bytes"].get<double>() > 0);
  CHECK(r["hbm"]["devices"][0]["fits"] == false);
}

TEST_CASE("bad layouts are input errors naming the field", "[quick][simulation]") {
  const auto path = test::repo_path("tests/golden/mixtral-ep8-decode.json");
  CHECK_THROWS_WITH(load_experiment(path, {"parallel.expert_parallel=3"}), Catch::Contains("$.parallel.expert_parallel"));
  CHECK_THROWS_WITH(load_experiment(path, {"model=mixtral-8x8b"}), Catch::Contains("did you mean \"mixtral-8x7b\""));
  CHECK_THROWS_WITH(run(path, {"placement.policy=contigous"}), Catch::Contains("did you mean \"contiguous\""));
}

TEST_CASE("routing.planned_layers: replayed layers copy their planned layer, and planning all layers is the exact run", "[quick][simulation]") {
  const auto path = test::repo_path("tests/golden/olmoe-training-pp2.json");  // 16 MoE layers over 2 pipeline stages
  const Json exact = run(path);
  Json all = run(path, {"routing.planned_layers=1000"});
  CHECK(all["experiment"]["routing"]["planned_layers"] == 1000);
  all["experiment"] = exact["experiment"];
  CHECK(all.dump() == exact.dump());

  const Json two = run(path, {"routing.planned_layers=2"});
  check_invariants(two);
  std::map<int64_t, std::set<int64_t>> planned_per_stage;
  std::map<int64_t, const Json*> by_layer;
  for (const auto& l : two["layers"]) by_layer[l["layer"].get<int64_t>()] = &l;
  for (const auto& l : two["layers"]) {
    if (l["type"] != "moe") continue;
    const int64_t planned = l.contains("planned_as") ? l["planned_as"].get<int64_t>() : l["layer"].get<int64_t>();
    planned_per_stage[l["stage"].get<int64_t>()].insert(planned);
    const Json& p = *by_layer.at(planned);
    CHECK(p["stage"] == l["stage"]);
    CHECK_FALSE(p.contains("planned_as"));
    CHECK(l["layer_time_us"] == p["layer_time_us"]);
    CHECK(l["expert_load"] == p["expert_load"]);
  }
  REQUIRE(planned_per_stage.size() == 2);
  for (const auto& [stage, planned] : planned_per_stage) CHECK(planned.size() == 2);
  // Expert blocks are counted for every layer, planned or replayed.
  CHECK(two["cost_sources"]["expert_block"] == exact["cost_sources"]["expert_block"]);
  CHECK(run(path, {"routing.planned_layers=2"}, 3).dump() == two.dump());
}
