// Runs against the real routing data in ../shared/traces (skipped with a message when absent).
#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>

#include "sim/scenario/simulation.h"
#include "sim/io/expert_counts_file.h"
#include "sim/moe/routing_source.h"
#include "sim/cli/cli.h"
#include "sim/import/trace_stats.h"
#include <filesystem>
#include "test_helpers.h"

using namespace moesim;

TEST_CASE("SGLang DeepSeek-V3 counts load with tokens x 8 per layer", "[slow][traces]") {
  const std::string dir = test::shared_traces_dir();
  if (dir.empty()) {
    WARN("skipped: ../shared/traces not found beside the checkout");
    return;
  }
  const auto c = load_expert_counts(dir + "/deepseek-sglang-expert-counts/prefill_in1024.json");
  CHECK(c.format == "sglang-logical-count");
  CHECK(c.counts.size() == 61);
  CHECK(c.num_experts == 256);
  for (int l = 0; l < 3; ++l) CHECK(std::accumulate(c.counts[l].begin(), c.counts[l].end(), 0.0) == 0.0);
  const double first = std::accumulate(c.counts[3].begin(), c.counts[3].end(), 0.0);
  CHECK(std::fmod(first, 8.0) == 0.0);
  for (size_t l = 3; l < 61; ++l) CHECK(std::accumulate(c.counts[l].begin(), c.counts[l].end(), 0.0) == first);
}

TEST_CASE("the real-counts example runs, and load-aware placement balances it", "[slow][traces]") {
  const std::string dir = test::shared_traces_dir();
  if (dir.empty()) {
    WARN("skipped: ../shared/traces not found beside the checkout");
    return;
  }
  auto run = [](const std::vector<std::string>& overrides) {
    Simulation sim(load_experiment(test::repo_path("experiments/deepseek-v3-real-counts.json"), overrides));
    sim.freeze();
    sim.run();
    return sim.report();
  };
  const Json contiguous = run({"workload.tokens_per_device=512"});
  const Json greedy = run({"workload.tokens_per_device=512", "placement.policy=greedy"});
  for (const Json* r : {&contiguous, &greedy}) {
    CHECK((*r)["invariants"]["tokens_conserved"] == true);
    CHECK((*r)["invariants"]["bytes_sent_equal_received"] == true);
  }
  // The real statistics are skewed (mean max/mean expert load well above 2)...
  CHECK(contiguous["expert_load"]["load_max_over_mean_mean"].get<double>() > 3.0);
  // ...and placing by load lowers the busiest device's share and the step time.
  CHECK(greedy["expert_load"]["device_load_max_over_mean"].get<double>() < contiguous["expert_load"]["device_load_max_over_mean"].get<double>());
  CHECK(greedy["step_time_us"].get<double>() < contiguous["step_time_us"].get<double>());
}

TEST_CASE("EPLB with 32 redundant experts lowers per-GPU load on prefill_in1024 over 32 GPUs", "[slow][traces]") {
  const std::string dir = test::shared_traces_dir();
  if (dir.empty()) {
    WARN("skipped: ../shared/traces not found beside the checkout");
    return;
  }
  auto run = [](const std::vector<std::string>& overrides) {
    std::vector<std::string> o = {"workload.tokens_per_device=512"};
    o.insert(o.end(), overrides.begin(), overrides.end());
    Simulation sim(load_experiment(test::repo_path("experiments/deepseek-v3-real-counts.json"), o));
    sim.freeze();
    sim.run();
    return sim.report();
  };
  const double before = run({})["expert_load"]["device_load_max_over_mean"].get<double>();
  for (const char* policy : {"eplb-hierarchical", "eplb-global"}) {
    const double after = run({std::string("placement.policy=") + policy, "placement.redundant_experts=32"})["expert_load"]["device_load_max_over_mean"].get<double>();
    INFO(policy << ": " << before << " -> " << after);
    CHECK(after < before * 0.6);
  }
}

TEST_CASE("drop fraction falls as the capacity factor grows on the real counts", "[slow][traces]") {
  const std::string dir = test::shared_traces_dir();
  if (dir.empty()) {
    WARN("skipped: ../shared/traces not found beside the checkout");
    return;
  }
  double last = 1.0;
  for (const char* cf : {"1.0", "1.25", "1.5", "1.75", "2.0"}) {
    Simulation sim(load_experiment(test::repo_path("experiments/deepseek-v3-real-counts.json"),
                                   {"workload.tokens_per_device=256", std::string("moe.capacity_factor=") + cf}));
    sim.freeze();
    sim.run();
    const double f = sim.report()["drops"]["drop_fraction"].get<double>();
    INFO("cf " << cf << ": " << f);
    CHECK(f < last);
    last = f;
  }
}

TEST_CASE("per-token draws from real counts reproduce their per-expert shares", "[slow][traces]") {
  const std::string dir = test::shared_traces_dir();
  if (dir.empty()) {
    WARN("skipped: ../shared/traces not found beside the checkout");
    return;
  }
  // Without group limits, each expert's share of the draws must match its share of the counts
  // within sampling error (top-8 without replacement flattens the hottest experts slightly:
  // the check allows 5 sigma plus 10% of the share for that).
  auto cfg = load_experiment(test::repo_path("experiments/deepseek-v3-real-counts.json"), {"routing.group_limited=false"});
  const auto counts = load_expert_counts(dir + "/deepseek-sglang-expert-counts/prefill_in1024.json");
  auto source = make_routing_source(cfg.routing, routing_inputs(cfg));
  RoutingBatch b;
  b.top_k = 8;
  const int64_t tokens = 50000, layer = 10;
  source->fill(layer, 0, 0, tokens, b);
  std::vector<double> got(256, 0.0);
  for (int32_t e : b.experts) got[e] += 1.0;
  const auto& row = counts.counts[layer];
  const double total = std::accumulate(row.begin(), row.end(), 0.0);
  int outside = 0;
  for (int e = 0; e < 256; ++e) {
    const double p = row[e] / total;                 // share of assignments
    const double n = static_cast<double>(tokens) * 8.0;
    const double sigma = std::sqrt(n * p * (1 - p));
    if (std::fabs(got[e] - n * p) > 5 * sigma + 0.1 * n * p) ++outside;
  }
  CHECK(outside == 0);
}

TEST_CASE("trace stats on a synthetic trace drawn from real counts reproduces their load shape", "[slow][traces]") {
  const std::string dir = test::shared_traces_dir();
  if (dir.empty()) {
    WARN("skipped: ../shared/traces not found beside the checkout");
    return;
  }
  const auto out = (std::filesystem::temp_directory_path() / "moesim-synth-test.npz").string();
  REQUIRE(cli::trace_synth({test::repo_path("experiments/deepseek-v3-real-counts.json"), "--tokens", "50000", "--out", out,
                            "--set", "routing.group_limited=false"}) == 0);
  const auto synth = routing_stats(out);
  const auto real = routing_stats(dir + "/deepseek-sglang-expert-counts/prefill_in1024.json");
  std::filesystem::remove(out);
  size_t compared = 0;
  for (const auto& s : synth.layers)
    for (const auto& r : real.layers)
      if (r.layer == s.layer && r.assignments > 0) {
        // Sequential top-8 draws without replacement under-select the hottest experts (their
        // inclusion probability is below 8 x their share), so the synthetic max/mean sits 0-16%
        // below the recorded one (layer 26: 11.5 vs 13.7); the per-expert shape must still match.
        const double ratio = s.load_max_over_mean() / r.load_max_over_mean();
        INFO("layer " << s.layer << ": synthetic " << s.load_max_over_mean() << " vs real " << r.load_max_over_mean());
        CHECK(ratio > 0.8);
        CHECK(ratio < 1.05);
        double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
        const double n = static_cast<double>(s.loads.size());
        for (size_t e = 0; e < s.loads.size(); ++e) {
          const double x = s.loads[e], y = r.loads[e];
          sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y;
        }
        const double corr = (n * sxy - sx * sy) / std::sqrt((n * sxx - sx * sx) * (n * syy - sy * sy));
        CHECK(corr > 0.98);
        ++compared;
      }
  CHECK(compared == 58);
}
