// DenseGemmTable: measured dense GEMM times are exact at measured M, interpolated in log-log
// between, monotone where the data is, and absent for shapes or M the table does not cover; the
// simulator uses it for shared experts where both GEMM shapes were measured.
#include <catch2/catch.hpp>

#include <cmath>

#include "sim/scenario/simulation.h"
#include "sim/hardware/dense_gemm_table.h"
#include "test_helpers.h"

using namespace moesim;

TEST_CASE("dense GEMM table: exact, interpolated, bounded", "[quick][calibration]") {
  Json list = Json::array();
  for (int64_t M : {1, 16, 256, 4096}) list.push_back({{"M", M}, {"K", 7168}, {"N", 4096}, {"dtype", "fp8"}, {"median_us", 20.0 + 0.1 * double(M)}});
  list.push_back({{"what", "no sizes"}, {"median_us", 3.0}});  // ignored
  const DenseGemmTable t(list);
  CHECK(*t.time_us(16, 7168, 4096, Dtype::Fp8) == Approx(21.6));
  CHECK(*t.time_us(4096, 7168, 4096, Dtype::Fp8) == Approx(429.6));
  // 64 is halfway between 16 and 256 in log(M): the geometric mean of their times.
  CHECK(*t.time_us(64, 7168, 4096, Dtype::Fp8) == Approx(std::sqrt(21.6 * 45.6)));
  double prev = 0;
  for (int64_t M = 1; M <= 4096; M += 7) {
    const double v = *t.time_us(M, 7168, 4096, Dtype::Fp8);
    CHECK(v >= prev);
    prev = v;
  }
  CHECK_FALSE(t.time_us(8192, 7168, 4096, Dtype::Fp8));  // beyond the measured M
  CHECK_FALSE(t.time_us(64, 7168, 4096, Dtype::Bf16));   // dtype not measured
  CHECK_FALSE(t.time_us(64, 4096, 7168, Dtype::Fp8));    // shape not measured
  CHECK(DenseGemmTable(Json()).empty());
}

TEST_CASE("shared experts are costed from the measured op table where the device has one", "[quick][simulation]") {
  // DeepSeek-V3 on H800: the H200's op table, transferred (hw_profiles/H800.json op_table_from).
  const auto path = test::repo_path("tests/golden/deepseek-prefill-padded.json");
  auto run = [&](const std::vector<std::string>& overrides) {
    Simulation sim(load_experiment(path, overrides));
    sim.freeze();
    sim.run();
    return sim.report();
  };
  const Json r = run({});
  CHECK(r["cost_sources"]["shared_expert"] == "measured:gemm_fp8 (from H200)");
  CHECK(r["breakdown_us"]["shared_expert"].get<double>() > 0);
  // A device without an op table of its own or to transfer: the roofline, labelled so.
  const Json roof = run({"hardware=Ascend-910B", "schedule.comm_compute_units=0"});
  CHECK(roof["cost_sources"]["shared_expert"] == "roofline");
  CHECK(roof["cost_sources"]["compute"] == "roofline");
  const Json mixtral = run({"model=mixtral-8x7b", "parallel.expert_parallel=8"});
  CHECK(mixtral["cost_sources"]["shared_expert"] == "none");
}
