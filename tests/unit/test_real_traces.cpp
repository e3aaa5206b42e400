// Runs against the real routing data in ../shared/traces (skipped with a message when absent).
#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>

#include "sim/app/simulation.h"
#include "sim/io/expert_counts_file.h"
#include "test_helpers.h"

using namespace moesim;

TEST_CASE("SGLang DeepSeek-V3 counts load with tokens x 8 per layer", "[quick][traces]") {
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

TEST_CASE("the real-counts example runs, and load-aware placement balances it", "[traces]") {
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
