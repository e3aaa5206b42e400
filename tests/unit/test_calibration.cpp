// Calibration tables (hw_profiles/*.calibration.json) and the expert-block cost model: the loader
// rejects malformed or incomplete tables with a one-line error naming file and JSON path; the
// model is exact at measured points, monotone in tokens where the data is, refuses to leave the
// measured grid unless extrapolation is enabled, and its roofline fallback never beats the
// datasheet's physical limit.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "sim/hardware/calibration_table.h"
#include "sim/hardware/device_cost.h"
#include "sim/hardware/hardware_profile.h"
#include "sim/hardware/expert_cost_model.h"
#include "sim/io/errors.h"
#include "sim/io/json_reader.h"
#include "sim/scenario/data_paths.h"
#include "test_helpers.h"

using namespace moesim;

namespace {

const std::vector<int64_t> kHidden = {1024, 4096}, kInter = {512, 2048}, kExperts = {1, 4}, kTokens = {1, 16, 256, 4096};

// Weight streaming at 3 TB/s + compute at 600 TFLOP/s + 10 us of launches, in us.
double synthetic_us(int64_t h, int64_t f, int64_t e, int64_t n) {
  return 10.0 + double(e) * 3.0 * double(h) * double(f) * 2.0 / 3e6 + 6.0 * double(e) * double(n) * double(h) * double(f) / 6e8;
}

Json synthetic_table() {
  Json uniform = Json::array();
  for (int64_t h : kHidden)
    for (int64_t f : kInter)
      for (int64_t e : kExperts) {
        Json med = Json::array();
        for (int64_t n : kTokens) med.push_back(synthetic_us(h, f, e, n));
        uniform.push_back({{"hidden", h}, {"intermediate", f}, {"experts", e}, {"tokens", kTokens}, {"median_us", med}});
      }
  return Json{{"format", "moesim-calibration-1"},
              {"hardware", "H100-SXM"},
              {"provenance",
               {{"gpu_name", "test"}, {"driver", "0"}, {"date_utc", "2026-01-01"}, {"git_commit", "abc"}, {"command", "none"}}},
              {"expert_block", {{"cublas-grouped", {{"implementation", "synthetic"}, {"bf16", {{"uniform", uniform}}}}}}}};
}

CalibrationTable parse(const Json& j) {
  const auto doc = JsonDocument::from_json(j, "table.calibration.json");
  return parse_calibration(doc.root());
}

std::shared_ptr<const CalibrationTable> shared(const Json& j) { return std::make_shared<const CalibrationTable>(parse(j)); }

HardwareProfile h100() { return load_hardware_file(test::repo_path("hw_profiles/H100-SXM.json")); }

ExpertCostModel synthetic_model(bool allow = false) { return ExpertCostModel(h100(), shared(synthetic_table()), "cublas-grouped", allow); }

// The error text of parsing `j`, checked to be one line naming the file and `path`.
std::string parse_error(const Json& j, const std::string& path) {
  try {
    parse(j);
  } catch (const InputError& e) {
    const std::string msg = e.what();
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(msg.find("table.calibration.json") != std::string::npos);
    CHECK(msg.find(path) != std::string::npos);
    return msg;
  }
  FAIL("no error for a bad table (expected one at " << path << ")");
  return {};
}

}  // namespace

TEST_CASE("a valid calibration table loads", "[quick][calibration]") {
  const auto t = parse(synthetic_table());
  CHECK(t.hardware == "H100-SXM");
  CHECK(t.backends() == std::vector<std::string>{"cublas-grouped"});
  REQUIRE(t.find("cublas-grouped", "bf16") != nullptr);
  CHECK(t.find("cublas-grouped", "bf16")->uniform.size() == 8);
  CHECK(t.find("cublas-grouped", "fp8") == nullptr);
}

TEST_CASE("the loader rejects malformed or incomplete tables with one-line errors", "[quick][calibration]") {
  const std::string cell = "$.expert_block.cublas-grouped.bf16.uniform[0]";
  auto j = synthetic_table();
  j["provenance"].erase("git_commit");
  CHECK_THAT(parse_error(j, "$.provenance"), Catch::Contains("git_commit"));

  j = synthetic_table();
  j["format"] = "moesim-calibration-0";
  CHECK_THAT(parse_error(j, "$.format"), Catch::Contains("unknown format"));

  j = synthetic_table();
  j["expert_block"]["cublas-grouped"]["bf16"]["uniform"][0]["tokens"] = {1, 16, 16, 4096};
  CHECK_THAT(parse_error(j, cell + ".tokens[2]"), Catch::Contains("increase strictly"));

  j = synthetic_table();
  j["expert_block"]["cublas-grouped"]["bf16"]["uniform"][0]["median_us"] = {1.0, 2.0, 3.0};
  CHECK_THAT(parse_error(j, cell + ".median_us"), Catch::Contains("expected 4 times"));

  j = synthetic_table();
  j["expert_block"]["cublas-grouped"]["bf16"]["uniform"][0]["median_us"][1] = -5.0;
  CHECK_THAT(parse_error(j, cell + ".median_us[1]"), Catch::Contains("positive"));

  j = synthetic_table();
  j["expert_block"]["cublas-grouped"]["bf16"]["uniform"][0].erase("tokens");
  CHECK_THAT(parse_error(j, cell), Catch::Contains("missing required key \"tokens\""));

  j = synthetic_table();
  j["expert_block"]["cublas-grouped"]["bf16"]["uniform"][0]["median"] = 1;
  CHECK_THAT(parse_error(j, cell), Catch::Contains("median_us"));  // unknown key, with a hint

  j = synthetic_table();
  j["expert_block"]["cublas-grouped"]["bf16"]["uniform"][1] = j["expert_block"]["cublas-grouped"]["bf16"]["uniform"][0];
  CHECK_THAT(parse_error(j, "uniform[1]"), Catch::Contains("duplicate"));

  j = synthetic_table();
  j["expert_block"]["cublas-grouped"]["int4"] = j["expert_block"]["cublas-grouped"]["bf16"];
  CHECK_THAT(parse_error(j, "$.expert_block.cublas-grouped.int4"), Catch::Contains("unknown dtype"));

  j = synthetic_table();
  j["expert_block"]["cublas-grouped"]["bf16"]["uniform"] = Json::array();
  parse_error(j, "$.expert_block.cublas-grouped.bf16.uniform");

  j = synthetic_table();
  j["expert_block"]["cublas-grouped"].erase("bf16");
  CHECK_THAT(parse_error(j, "$.expert_block.cublas-grouped"), Catch::Contains("at least one dtype"));

  j = synthetic_table();
  j["expert_block"]["cublas-grouped"]["bf16"]["token_tile"] = -64;
  parse_error(j, "$.expert_block.cublas-grouped.bf16.token_tile");

  j = synthetic_table();
  j["dense_gemm"] = Json::array({Json{{"what", "x"}}});
  CHECK_THAT(parse_error(j, "$.dense_gemm[0]"), Catch::Contains("median_us"));
}

TEST_CASE("interpolation is exact at measured points", "[quick][calibration]") {
  const auto m = synthetic_model();
  for (int64_t h : kHidden)
    for (int64_t f : kInter)
      for (int64_t e : kExperts)
        for (int64_t n : kTokens) {
          const auto est = m.expert_block(h, f, Dtype::Bf16, std::vector<int64_t>(size_t(e), n));
          CHECK(est.time.us() == Approx(synthetic_us(h, f, e, n)).epsilon(0).margin(2e-6));
          CHECK(est.source == "calibrated:cublas-grouped");
          CHECK_FALSE(est.extrapolated);
        }
}

TEST_CASE("the bundled tables reproduce every measured point", "[quick][calibration]") {
  for (const std::string name : {"H100-SXM", "H200"}) {
    const auto path = test::repo_path("hw_profiles/" + name + ".calibration.json");
    if (!std::filesystem::exists(path)) continue;
    const auto hw = load_hardware_file(test::repo_path("hw_profiles/" + name + ".json"));
    const auto t = load_calibration_file(path);
    CHECK(t->hardware == name);
    for (const auto& backend : t->backends()) {
      const ExpertCostModel m(hw, t, backend, false);
      for (const auto& dtype : t->dtypes(backend))
        for (const auto& c : t->find(backend, dtype)->uniform)
          for (size_t i = 0; i < c.tokens.size(); ++i) {
            const auto est = m.expert_block(c.hidden, c.intermediate, *parse_dtype(dtype), std::vector<int64_t>(size_t(c.experts), c.tokens[i]));
            INFO(name << " " << backend << " " << dtype << " H=" << c.hidden << " F=" << c.intermediate << " E=" << c.experts << " n=" << c.tokens[i]);
            CHECK(est.time.us() == Approx(c.median_us[i]).epsilon(1e-6));
          }
    }
  }
}

TEST_CASE("interpolation is monotone in tokens where the data is", "[quick][calibration]") {
  // Synthetic data increase with tokens: so do predictions, on and off the shape grid.
  const auto m = synthetic_model();
  for (const auto& [h, f] : std::vector<std::pair<int64_t, int64_t>>{{1024, 512}, {2048, 1024}, {3000, 2048}, {4096, 700}}) {
    double prev = 0;
    for (int64_t n = 1; n <= 4096; n = std::max(n + 1, int64_t(double(n) * 1.07))) {
      const double t = m.expert_block(h, f, Dtype::Bf16, {n, n, n}).time.us();
      CHECK(t >= prev);
      prev = t;
    }
  }
  // Bundled tables: between two measured points the prediction stays between them.
  const auto path = test::repo_path("hw_profiles/H100-SXM.calibration.json");
  if (!std::filesystem::exists(path)) return;
  const auto t = load_calibration_file(path);
  const ExpertCostModel cm(h100(), t, "cublas-grouped", false);
  for (const auto& c : t->find("cublas-grouped", "bf16")->uniform) {
    if (c.experts != 4) continue;
    for (size_t i = 0; i + 1 < c.tokens.size(); ++i) {
      const double lo = std::min(c.median_us[i], c.median_us[i + 1]), hi = std::max(c.median_us[i], c.median_us[i + 1]);
      double prev = c.median_us[i];
      for (int64_t n = c.tokens[i]; n <= c.tokens[i + 1]; n += std::max<int64_t>(1, (c.tokens[i + 1] - c.tokens[i]) / 5)) {
        const double v = cm.expert_block(c.hidden, c.intermediate, Dtype::Bf16, std::vector<int64_t>(4, n)).time.us();
        CHECK(v >= lo * (1 - 1e-9));
        CHECK(v <= hi * (1 + 1e-9));
        if (c.median_us[i + 1] >= c.median_us[i]) CHECK(v >= prev * (1 - 1e-9));
        prev = v;
      }
    }
  }
}

TEST_CASE("with a token tile the time steps where a tile fills", "[quick][calibration]") {
  // Measured at 1, 16, 256, 4096 tokens; with 64-token tiles, 16 -> 256 spans tiles 1 -> 4: 64
  // tokens still fit the first tile (the time at 16), 65 need the second (one third of the way),
  // and 256 ends the span.
  auto j = synthetic_table();
  j["expert_block"]["cublas-grouped"]["bf16"]["token_tile"] = 64;
  const ExpertCostModel m(h100(), shared(j), "cublas-grouped", false);
  const auto at = [&](int64_t n) { return m.expert_block(1024, 512, Dtype::Bf16, {n}).time.us(); };
  const double t16 = synthetic_us(1024, 512, 1, 16), t256 = synthetic_us(1024, 512, 1, 256);
  CHECK(at(64) == Approx(t16).epsilon(0).margin(2e-6));
  CHECK(at(65) == Approx(std::exp(std::log(t16) * 2.0 / 3.0 + std::log(t256) / 3.0)).epsilon(0).margin(2e-6));
  CHECK(at(192) == Approx(std::exp(std::log(t16) / 3.0 + std::log(t256) * 2.0 / 3.0)).epsilon(0).margin(2e-6));
  CHECK(at(256) == Approx(t256).epsilon(0).margin(2e-6));
  double prev = 0;
  for (int64_t n = 1; n <= 4096; ++n) {
    const double t = at(n);
    CHECK(t >= prev);
    prev = t;
  }
}

TEST_CASE("extrapolation is refused unless enabled", "[quick][calibration]") {
  const auto strict = synthetic_model(false), loose = synthetic_model(true);
  struct Q {
    int64_t h, f;
    std::vector<int64_t> counts;
  };
  const std::vector<Q> outside = {{4096, 2048, {8192, 8192}},      // tokens above the largest measured
                                  {8192, 2048, {16, 16}},          // hidden above the grid
                                  {1024, 256, {16}},               // intermediate below the grid
                                  {1024, 512, std::vector<int64_t>(8, 16)}};  // more experts than measured
  for (const auto& q : outside) {
    CHECK_THROWS_AS(strict.expert_block(q.h, q.f, Dtype::Bf16, q.counts), InputError);
    const auto e = loose.expert_block(q.h, q.f, Dtype::Bf16, q.counts);
    CHECK(e.extrapolated);
    CHECK(e.time.us() > 0);
  }
  CHECK_THROWS_WITH(strict.expert_block(4096, 2048, Dtype::Bf16, {8192}), Catch::Contains("outside the measured range") && Catch::Contains("extrapolat"));
  // Above the largest count: proportional to tokens.
  CHECK(loose.expert_block(4096, 2048, Dtype::Bf16, {8192}).time.us() == Approx(2 * synthetic_us(4096, 2048, 1, 4096)).epsilon(0).margin(2e-6));
  CHECK_FALSE(strict.expert_block(2048, 1024, Dtype::Bf16, {100, 100}).extrapolated);  // inside: interpolated, not extrapolated
  CHECK_THROWS_AS(strict.expert_block(4096, 2048, Dtype::Fp8, {16}), InputError);      // no fp8 table
}

TEST_CASE("uneven counts: per-expert shares, idle experts cost nothing", "[quick][calibration]") {
  const auto m = synthetic_model();
  CHECK(m.expert_block(4096, 2048, Dtype::Bf16, {0, 0, 0, 0}).time.us() == 0);
  // One active expert among four is a one-expert block.
  CHECK(m.expert_block(4096, 2048, Dtype::Bf16, {0, 256, 0, 0}).time.us() == Approx(synthetic_us(4096, 2048, 1, 256)).epsilon(0).margin(2e-6));
  // Uneven: sum of the E_a = 4 shares, and never below the largest expert alone.
  const double t = m.expert_block(4096, 2048, Dtype::Bf16, {4096, 1, 16, 256}).time.us();
  const double shares = (synthetic_us(4096, 2048, 4, 4096) + synthetic_us(4096, 2048, 4, 1) + synthetic_us(4096, 2048, 4, 16) +
                         synthetic_us(4096, 2048, 4, 256)) / 4;
  CHECK(t == Approx(std::max(shares, synthetic_us(4096, 2048, 1, 4096))).epsilon(0).margin(2e-6));
  CHECK(t >= synthetic_us(4096, 2048, 1, 4096) * (1 - 1e-12));
  CHECK_THROWS_AS(m.expert_block(4096, 2048, Dtype::Bf16, {-1, 4}), InputError);
}

TEST_CASE("backends are checked when the model is built", "[quick][calibration]") {
  CHECK_THROWS_WITH(ExpertCostModel(h100(), shared(synthetic_table()), "cublas", false), Catch::Contains("did you mean \"cublas-grouped\""));
  CHECK_THROWS_WITH(ExpertCostModel(h100(), nullptr, "cublas-grouped", false), Catch::Contains("no calibration table"));
  const ExpertCostModel roof(h100(), nullptr, "", false);
  CHECK_FALSE(roof.calibrated());
  CHECK(roof.expert_block(4096, 2048, Dtype::Bf16, {16}).source == "roofline");
  auto other = h100();
  other.name = "No-Such-GPU";
  CHECK_FALSE(find_calibration(other, data_dir()));
}

TEST_CASE("the roofline fallback never beats the datasheet limit", "[quick][calibration]") {
  for (const std::string name : {"H100-SXM", "H200", "H800", "Ascend-910B"}) {
    const auto hw = load_hardware_file(test::repo_path("hw_profiles/" + name + ".json"));
    const ExpertCostModel m(hw, nullptr, "", false);
    for (const Dtype dtype : {Dtype::Bf16, Dtype::Fp8})
      for (const auto& [h, f] : std::vector<std::pair<int64_t, int64_t>>{{7168, 2048}, {4096, 14336}, {2048, 768}, {1024, 256}})
        for (const auto& counts : std::vector<std::vector<int64_t>>{{1}, {64, 0, 3, 900}, std::vector<int64_t>(32, 128), {65536, 65536}}) {
          double flops = 0, weight_bytes = 0;
          for (int64_t n : counts)
            if (n > 0) flops += 6.0 * double(n) * double(h) * double(f), weight_bytes += 3.0 * double(h) * double(f) * dtype_bytes(dtype);
          const double floor_s = std::max(flops / hw.flops_for(dtype), weight_bytes / hw.hbm_bandwidth_Bps);
          const auto e = m.expert_block(h, f, dtype, counts);
          INFO(name << " " << dtype_name(dtype) << " H=" << h << " F=" << f);
          CHECK(e.source == "roofline");
          CHECK(e.time.seconds() >= floor_s * (1 - 1e-9));
        }
  }
}

namespace moesim::cli {
int cost(const std::vector<std::string>& args);
}

TEST_CASE("cost batches answer every line and exit 1 when one was refused", "[quick][calibration]") {
  test::TempDir dir("cost-batch");
  const std::string good = dir.file("good.txt", "4096 2048 bf16 16,0,3\n");
  const std::string bad = dir.file("bad.txt", "4096 2048 bf16 16,0,3\n4096 0 bf16 1\nnot a query\n4096 2048 bf16 16,0,3\n");
  CHECK(cli::cost({"experts", "--hardware", "H100-SXM", "--batch", good}) == 0);
  CHECK(cli::cost({"experts", "--hardware", "H100-SXM", "--batch", bad}) == 1);
  const std::string layer_bad = dir.file("layer.jsonl", "{\"model\": \"mixtral-8x7b\", \"tokens\": 0}\n");
  CHECK(cli::cost({"layer", "--hardware", "H100-SXM", "--batch", layer_bad}) == 1);
  // One query from flags: errors name the flag; in a batch, the JSON key.
  CHECK_THROWS_WITH(cli::cost({"layer", "--hardware", "H100-SXM", "--model", "mixtral-8x7b", "--tokens", "8", "--sequence-length", "16"}),
                    Catch::StartsWith("--sequence-length: 16 is more than the tokens on the device (8)"));
  CHECK_THROWS_WITH(cli::cost({"layer", "--hardware", "H100-SXM", "--model", "mixtral-8x7b", "--tokens", "8", "--phase", "decode"}),
                    Catch::StartsWith("--context: decode needs"));
  CHECK_THROWS_WITH(cli::cost({"layer", "--hardware", "H10O-SXM", "--model", "mixtral-8x7b", "--tokens", "8"}),
                    Catch::StartsWith("--hardware: no hardware profile \"H10O-SXM\""));
  CHECK_THROWS_WITH(cli::cost({"layer", "--hardware", "H100-SXM", "--model", "mixtral-8x7", "--tokens", "8"}),
                    Catch::StartsWith("--model: no model \"mixtral-8x7\""));
  // An expert takes each token of the EP group once: 8 tokens x EP 1 bound each count.
  CHECK_THROWS_WITH(cli::cost({"layer", "--hardware", "H100-SXM", "--model", "mixtral-8x7b", "--tokens", "8", "--counts", "9,0,0,0,0,0,0,0"}),
                    Catch::StartsWith("--counts: count 9 of local expert 0 is more than the 8 tokens x EP 1"));
  const std::string dup = dir.file("dup.jsonl", "{\"model\": \"mixtral-8x7b\", \"tokens\": 64, \"tokens\": 32}\n");
  CHECK(cli::cost({"layer", "--hardware", "H100-SXM", "--batch", dup}) == 1);
  const std::string with_null = dir.file("null.jsonl", "{\"model\": \"mixtral-8x7b\", \"tokens\": 64, \"launch\": null}\n");
  CHECK(cli::cost({"layer", "--hardware", "H100-SXM", "--batch", with_null}) == 0);
  CHECK_THROWS_WITH(cli::cost({"experts", "--hardware", "H100-SXM", "--batch", good, "--hidden", "5"}),
                    Catch::StartsWith("--hidden: with --batch every query comes from the batch file"));
}

TEST_CASE("models/NAME.json and hw_profiles/NAME.json name the bundled files from any experiment folder", "[quick][calibration]") {
  test::TempDir dir("data-paths");
  const std::string experiment = dir.path + "/exp.json";
  CHECK(resolve_data_file("hw_profiles/H100-SXM.json", "hw_profiles", experiment) == data_dir() + "/hw_profiles/H100-SXM.json");
  CHECK(resolve_data_file("models/mixtral-8x7b.json", "models", experiment) == data_dir() + "/models/mixtral-8x7b.json");
  // A file of that path beside the experiment comes first; other relative paths stay relative.
  std::filesystem::create_directories(dir.path + "/models");
  dir.file("models/mixtral-8x7b.json", "{}");
  CHECK(resolve_data_file("models/mixtral-8x7b.json", "models", experiment) == dir.path + "/models/mixtral-8x7b.json");
  CHECK(resolve_data_file("my/model.json", "models", experiment) == dir.path + "/my/model.json");
}

TEST_CASE("below the measured shape grid an expert block keeps the smallest shape's time", "[quick][calibration]") {
  if (!std::filesystem::exists(test::repo_path("hw_profiles/H100-SXM.calibration.json"))) return;
  DeviceCostOptions o;
  o.data_dir = test::repo_path("");
  const DeviceCostModel cost(load_hardware_file(test::repo_path("hw_profiles/H100-SXM.json")), o);
  auto time_of = [&](int64_t hidden, double inter) { return cost.expert_block(hidden, inter, Dtype::Bf16, 2, 2, {1}).time.us(); };
  const double smallest = time_of(1024, 256);  // the grid's smallest shape
  CHECK(time_of(1, 1) == Approx(smallest));
  CHECK(time_of(512, 128) == Approx(smallest));
  CHECK(time_of(16384, 256) > 1.5 * smallest);  // above the grid: scaled with the shape
}

TEST_CASE("moesim cost experts parses its options", "[quick][calibration]") {
  CHECK_THROWS_WITH(cli::cost({}), Catch::Matchers::Contains("expected a target (experts, layer, op)"));
  CHECK(cli::cost({"layers"}) == 2);
  CHECK_THROWS_WITH(cli::cost({"experts", "--hardware", "H100-SXM", "--hidden", "0", "--intermediate", "2048", "--counts", "1"}),
                    "--hidden: expected a hidden size from 1 to 1048576, got 0");
  // 1e14 tokens on one expert: longer than the clock holds, an input error naming the flag.
  CHECK_THROWS_WITH(cli::cost({"experts", "--hardware", "H100-SXM", "--hidden", "7168", "--intermediate", "2048", "--counts", "100000000000000,5"}),
                    Catch::Matchers::StartsWith("--counts: the expert block would last longer than the simulated clock holds"));
  CHECK(cli::cost({"experts", "--hardware", "H100-SXM"}) == 2);  // no shape or counts
  CHECK(cli::cost({"experts", "--hardware", "H100-SXM", "--hidden", "4096", "--intermediate", "2048", "--counts", "16,0,3"}) == 0);
  CHECK_THROWS_AS(cli::cost({"experts", "--hardware", "H100-SXM", "--hidden", "4096", "--intermediate", "2048", "--counts", "16,x"}),
                  InputError);
  if (std::filesystem::exists(test::repo_path("hw_profiles/H100-SXM.calibration.json")))
    CHECK_THROWS_WITH(cli::cost({"experts", "--hardware", "H100-SXM", "--kernel", "cublas", "--hidden", "4096", "--intermediate", "2048",
                                 "--counts", "16"}),
                      Catch::Contains("did you mean \"cublas-grouped\""));
}
