// Sweeps: grid order and ids, results independent of --jobs, resume after an interruption (and
// a truncated last row), shards merged equal the unsharded run, error rows, one-line errors for
// bad sweep files, points and folders. Small: Mixtral decode at 16 tokens per device.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "sim/base/progress_bar.h"
#include "sim/sweep/sweep_output.h"
#include "sim/sweep/sweep_runner.h"
#include "sim/sweep/sweep_spec.h"
#include "test_helpers.h"

namespace moesim::cli {
int sweep(const std::vector<std::string>& args);
}

using namespace moesim;
namespace fs = std::filesystem;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A fresh folder per test case, removed at the end.
struct TempDir {
  std::string path;
  explicit TempDir(const std::string& name) {
    path = (fs::temp_directory_path() / fmt::format("moesim-test-sweep-{}-{}", name, ::getpid())).string();
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& rel) const { return path + "/" + rel; }
};

std::string base_path() { return test::repo_path("tests/golden/mixtral-ep8-decode.json"); }

// 12 points: expert parallel x capacity factor.
std::string sweep_text(const std::string& extra_axis = "") {
  return fmt::format(R"({{"name": "t12", "base": "{}", "set": {{"workload.tokens_per_device": 16}}, "mode": "grid",
    "axes": {{"parallel.expert_parallel": [1, 2, 4, 8], "moe.capacity_factor": ["none", 1.0, 1.5]{}}}}})",
                     base_path(), extra_axis);
}

int run_cli(std::vector<std::string> args) {
  args.push_back("--quiet");
  return cli::sweep(args);
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) out.push_back(l);
  return out;
}

using test::error_of;

}  // namespace

TEST_CASE("grid points expand axes in file order, last axis fastest, with stable ids", "[quick][sweep]") {
  TempDir dir("grid");
  write_text(dir / "s.json", sweep_text());
  const SweepSpec spec = load_sweep(dir / "s.json");
  REQUIRE(spec.points.size() == 12);
  CHECK(spec.columns == std::vector<std::string>{"parallel.expert_parallel", "moe.capacity_factor"});
  CHECK(spec.points[1].describe() == "parallel.expert_parallel=1, moe.capacity_factor=1.0");
  CHECK(spec.points[3].describe() == "parallel.expert_parallel=2, moe.capacity_factor=\"none\"");
  CHECK(spec.points[11].describe() == "parallel.expert_parallel=8, moe.capacity_factor=1.5");
  CHECK(spec.metrics == default_sweep_metrics());
  // The id depends on the overrides only, not on the axis order.
  write_text(dir / "swapped.json", fmt::format(R"({{"name": "t", "base": "{}", "mode": "grid",
    "axes": {{"moe.capacity_factor": ["none", 1.0, 1.5], "parallel.expert_parallel": [1, 2, 4, 8]}}}})", base_path()));
  const SweepSpec swapped = load_sweep(dir / "swapped.json");
  CHECK(swapped.points[1].describe() == "moe.capacity_factor=\"none\", parallel.expert_parallel=2");
  CHECK(swapped.points[1].id == spec.points[3].id);
  std::set<std::string> ids;
  for (const auto& p : spec.points) ids.insert(p.id);
  CHECK(ids.size() == 12);
}

TEST_CASE("a sweep gives the same files with --jobs 1 and --jobs 2", "[slow][sweep]") {
  TempDir dir("jobs");
  write_text(dir / "s.json", sweep_text());
  REQUIRE(run_cli({dir / "s.json", "--out", dir / "j1", "--jobs", "1"}) == 0);
  REQUIRE(run_cli({dir / "s.json", "--out", dir / "j2", "--jobs", "2"}) == 0);
  const std::string rows = read_text(dir / "j1/results.jsonl");
  CHECK(rows == read_text(dir / "j2/results.jsonl"));
  CHECK(read_text(dir / "j1/results.csv") == read_text(dir / "j2/results.csv"));
  const auto l = lines(rows);
  REQUIRE(l.size() == 12);
  for (size_t i = 0; i < l.size(); ++i) {
    const Json r = Json::parse(l[i]);
    CHECK(r["point"] == i);
    CHECK(r["status"] == "ok");
    CHECK(r["metrics"]["step_time_us"].get<double>() > 0);
    CHECK(r["metrics"].contains("breakdown_us.expert_compute"));
  }
  // A row is a pure function of its point.
  const SweepSpec spec = load_sweep(dir / "s.json");
  CHECK(run_point(spec, spec.points[7]) == Json::parse(l[7]));
  const auto csv = lines(read_text(dir / "j1/results.csv"));
  REQUIRE(csv.size() == 13);
  CHECK(csv[0].rfind("point,id,status,parallel.expert_parallel,moe.capacity_factor,step_time_us,", 0) == 0);
  CHECK(csv[1].rfind("0," + spec.points[0].id + ",ok,1,none,", 0) == 0);
}

TEST_CASE("an interrupted sweep resumes and runs every point exactly once", "[slow][sweep]") {
  TempDir dir("resume");
  write_text(dir / "s.json", sweep_text());
  REQUIRE(run_cli({dir / "s.json", "--out", dir / "full"}) == 0);
  const std::string full = read_text(dir / "full/results.jsonl");
  const auto full_lines = lines(full);

  // Stopped after 5 points (as if killed), then a kill mid-write leaves half a row.
  REQUIRE(run_cli({dir / "s.json", "--out", dir / "r", "--jobs", "2", "--stop-after", "5"}) == 0);
  CHECK(lines(read_text(dir / "r/results.jsonl")).size() == 5);
  {
    std::ofstream app(dir / "r/results.jsonl", std::ios::app);
    app << full_lines[11].substr(0, 40);
  }
  const SweepSpec spec = load_sweep(dir / "s.json");
  SweepRunOptions opt;
  opt.out = dir / "r";
  opt.jobs = 2;
  const SweepRunSummary s = run_sweep(spec, opt);
  CHECK(s.already_done == 5);
  CHECK(s.ran == 7);
  CHECK(s.dropped_tail == 1);
  CHECK(s.complete);
  CHECK(read_text(dir / "r/results.jsonl") == full);
  CHECK(read_text(dir / "r/results.csv") == read_text(dir / "full/results.csv"));

  // A row file as a kill leaves it (completion order, truncated tail, no sorted rewrite).
  fs::create_directories(dir / "k");
  fs::copy_file(dir / "full/sweep.json", dir / "k/sweep.json");
  write_text(dir / "k/results.jsonl", full_lines[9] + "\n" + full_lines[2] + "\n" + full_lines[4].substr(0, 17));
  const SweepRunSummary k = run_sweep(spec, opt = SweepRunOptions{dir / "k", 1, 0, 1, false, -1});
  CHECK(k.already_done == 2);
  CHECK(k.ran == 10);
  CHECK(read_text(dir / "k/results.jsonl") == full);

  // Rerunning a finished sweep runs nothing.
  const SweepRunSummary again = run_sweep(spec, opt);
  CHECK(again.ran == 0);
  CHECK(read_text(dir / "k/results.jsonl") == full);
}

TEST_CASE("resume refuses a folder of another sweep or a corrupt row", "[slow][sweep]") {
  TempDir dir("refuse");
  write_text(dir / "s.json", sweep_text());
  REQUIRE(run_cli({dir / "s.json", "--out", dir / "o", "--stop-after", "3"}) == 0);
  write_text(dir / "s2.json", sweep_text(R"(, "routing.seed": [1, 2])"));
  const std::string e = error_of([&] { run_cli({dir / "s2.json", "--out", dir / "o"}); });
  CHECK(e.find(dir / "o/sweep.json") == 0);
  CHECK(e.find("$.axes[\"routing.seed\"]") != std::string::npos);
  CHECK(e.find("differs from the sweep") != std::string::npos);
  CHECK(e.find('\n') == std::string::npos);
  // The same sweep as another shard is refused too.
  CHECK(error_of([&] { run_cli({dir / "s.json", "--out", dir / "o", "--shard", "1/2"}); }).find("$.shard") != std::string::npos);
  // A broken row that is not the last line is not silently dropped.
  const auto l = lines(read_text(dir / "o/results.jsonl"));
  write_text(dir / "o/results.jsonl", l[0] + "\n{\"point\": 1,\n" + l[2] + "\n");
  CHECK(error_of([&] { run_cli({dir / "s.json", "--out", dir / "o"}); }).find("results.jsonl: line 2: not a sweep result row") != std::string::npos);
  // A row whose overrides are not its point's (edited by hand) is refused, not carried into the CSV.
  Json edited = Json::parse(l[0]);
  edited["overrides"]["moe.capacity_factor"] = 7;
  write_text(dir / "o/results.jsonl", edited.dump() + "\n" + l[1] + "\n" + l[2] + "\n");
  CHECK(error_of([&] { run_cli({dir / "s.json", "--out", dir / "o"}); }).find("results.jsonl: line 1: point 0 has overrides") != std::string::npos);
}

TEST_CASE("sharded runs merged equal the unsharded run", "[slow][sweep]") {
  TempDir dir("shards");
  write_text(dir / "s.json", sweep_text());
  REQUIRE(run_cli({dir / "s.json", "--out", dir / "all", "--jobs", "2"}) == 0);
  REQUIRE(run_cli({dir / "s.json", "--out", dir / "s0", "--shard", "0/2"}) == 0);
  REQUIRE(run_cli({dir / "s.json", "--out", dir / "s1", "--shard", "1/2", "--jobs", "2"}) == 0);
  CHECK(lines(read_text(dir / "s0/results.jsonl")).size() == 6);
  REQUIRE(run_cli({"merge", dir / "s1", dir / "s0", "--out", dir / "m"}) == 0);
  CHECK(read_text(dir / "m/results.jsonl") == read_text(dir / "all/results.jsonl"));
  CHECK(read_text(dir / "m/results.csv") == read_text(dir / "all/results.csv"));
  CHECK(read_text(dir / "m/sweep.json") == read_text(dir / "all/sweep.json"));

  const std::string missing = error_of([&] { run_cli({"merge", dir / "s0", "--out", dir / "m2"}); });
  CHECK(missing.find("6 missing (1, 3, 5, 7, 9, 11)") != std::string::npos);
  const std::string dup = error_of([&] { run_cli({"merge", dir / "s0", dir / "s1", dir / "all", "--out", dir / "m2"}); });
  CHECK(dup.find("12 duplicated (point 0 in " + dir / "s0" + " and " + dir / "all") != std::string::npos);
  write_text(dir / "other.json", sweep_text(R"(, "routing.seed": [3])"));
  REQUIRE(run_cli({dir / "other.json", "--out", dir / "o1", "--shard", "1/2"}) == 0);
  CHECK(error_of([&] { run_cli({"merge", dir / "s0", dir / "o1", "--out", dir / "m2"}); }).find("not shards of the same sweep") != std::string::npos);
  CHECK(!fs::exists(dir / "m2"));
}

TEST_CASE("a point that fails at run time becomes an error row", "[quick][sweep]") {
  TempDir dir("errors");
  Json hw = Json::parse(read_text(test::repo_path("hw_profiles/H100-SXM.json")));
  hw.erase("sources");
  // The slowest rates a profile may give, and a long context: valid, but the step overflows the clock.
  for (auto& [k, v] : hw["peak_flops"].items()) v = "1 GFLOP/s";
  hw["hbm_bandwidth"] = "1 MB/s";
  hw["efficiency"]["matmul"] = 0.01;
  hw["efficiency"]["memory"] = 0.01;
  Json sweep = {{"name", "rt"}, {"base", base_path()}, {"set", {{"workload.tokens_per_device", 16}}}, {"mode", "list"},
                {"points", {{{"hardware", "H100-SXM"}}, {{"hardware", hw}, {"workload.context_length", 131072}}, {{"parallel.expert_parallel", 4}}}}};
  write_text(dir / "s.json", sweep.dump());
  REQUIRE(run_cli({dir / "s.json", "--out", dir / "o", "--jobs", "2"}) == 0);
  const auto l = lines(read_text(dir / "o/results.jsonl"));
  REQUIRE(l.size() == 3);
  const Json bad = Json::parse(l[1]);
  CHECK(bad["status"] == "error");
  CHECK(bad["error"].get<std::string>().find("simulated time overflow") != std::string::npos);
  CHECK(bad["metrics"].empty());
  CHECK(Json::parse(l[2])["status"] == "ok");
  const auto csv = lines(read_text(dir / "o/results.csv"));
  CHECK(csv[0].rfind("point,id,status,hardware,workload.context_length,parallel.expert_parallel,", 0) == 0);
  CHECK(csv[2].find("simulated time overflow") != std::string::npos);
}

TEST_CASE("bad sweep files and bad points give one-line errors before anything runs", "[quick][sweep]") {
  TempDir dir("bad");
  const std::string b = base_path();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"name": "x", "base": "BASE", "mode": "gird", "axes": {}})", R"($.mode: unknown value "gird"; did you mean "grid"?)"},
      {R"({"name": "x", "base": "BASE", "mode": "grid", "axis": {"hardware": ["H800"]}})", R"($.axis: unknown key "axis"; did you mean "axes"?)"},
      {R"({"name": "x", "base": "BASE", "mode": "grid", "axes": {"hardware": ["H800"]}, "metric": []})", R"($.metric: unknown key "metric"; did you mean "metrics"?)"},
      {R"({"name": "x", "base": "nope.json", "mode": "grid", "axes": {"hardware": ["H800"]}})", "$.base: no experiment file"},
      {R"({"name": "x", "base": "BASE", "mode": "grid", "axes": {"parallel.expert_parallel": [8, 8]}})", R"($.axes["parallel.expert_parallel"][1]: repeats value 8)"},
      {R"({"name": "x", "base": "BASE", "mode": "grid", "axes": {"parallel.expert_parallel": []}})", "expected an array of 1 to"},
      {R"({"name": "x", "base": "BASE", "mode": "grid", "axes": {"a..b": [1]}})", "has an empty key"},
      {R"({"name": "x", "base": "BASE", "mode": "list", "axes": {}})", R"($.axes: "axes" belongs to mode "grid")"},
      {R"({"name": "x", "base": "BASE", "mode": "list", "points": [{"hardware": "H800"}, {"hardware": "H800"}]})", "$.points[1]: same overrides as point 0"},
      {R"({"name": "x", "base": "BASE", "mode": "grid", "axes": {"hardware": ["H800"]}, "metrics": ["a.*.b"]})", R"($.metrics[0]: metric "a.*.b")"},
      {R"({"name": "x", "base": "BASE", "mode": "grid", "axes": {"hardware": ["H800"]},})", "line 1 column"},
      // Bad points: the point's index and overrides, then the experiment's own error.
      {R"({"name": "x", "base": "BASE", "mode": "grid", "axes": {"moe.capacity_factor": [1.0], "parallel.expert_parallel": [8, 3]}})",
       R"($.axes["parallel.expert_parallel"][1]: point 1 (moe.capacity_factor=1.0, parallel.expert_parallel=3): )" + b +
           ": $.parallel.expert_parallel: expert_parallel 3 does not divide"},
      {R"({"name": "x", "base": "BASE", "mode": "grid", "axes": {"parallel.expert_paralel": [8]}})",
       R"(did you mean "expert_parallel"?)"},
      {R"({"name": "x", "base": "BASE", "mode": "list", "points": [{}, {"placement.policy": "eplbb"}]})",
       R"($.points[1]: point 1 (placement.policy="eplbb"): )"},
      {R"({"name": "x", "base": "BASE", "mode": "grid", "axes": {"hardware": ["H800", "H8000"]}})", R"($.axes.hardware[1]: point 1 (hardware="H8000"))"},
  };
  for (const auto& [text, expected] : cases) {
    INFO(text);
    std::string t = text;
    if (const auto at = t.find("BASE"); at != std::string::npos) t.replace(at, 4, b);
    write_text(dir / "bad.json", t);
    const std::string e = error_of([&] { run_cli({dir / "bad.json", "--out", dir / "o"}); });
    CHECK(e.find(dir / "bad.json") == 0);
    CHECK(e.find(expected) != std::string::npos);
    CHECK(e.find('\n') == std::string::npos);
    CHECK(!fs::exists(dir / "o"));
  }
  CHECK(run_cli({dir / "bad.json", "--out", dir / "o", "--shard", "2/2"}) == 2);
  CHECK(run_cli({dir / "bad.json", "--out", dir / "o", "--jobs", "0"}) == 2);
}

TEST_CASE("metrics: JSON pointers, dotted keys and wildcards", "[quick][sweep]") {
  const Json report = {{"a", 1}, {"b", {{"x", 2}, {"y", {{"z", 3}}}, {"w", "s"}}}, {"l", {10, 20}}};
  const Json m = extract_metrics(report, {"a", "/b/x", "b.*", "/l/1", "missing.key", "/b/*"});
  CHECK(m["a"] == 1);
  CHECK(m["/b/x"] == 2);
  CHECK(m["b.x"] == 2);
  CHECK(m["b.w"] == "s");
  CHECK(!m.contains("b.y"));  // not a scalar
  CHECK(m["/l/1"] == 20);
  CHECK(m["missing.key"].is_null());
  CHECK(m["/b/w"] == "s");
}

TEST_CASE("the progress bar renders counts, rate and ETA in the width given", "[quick][sweep]") {
  const std::string s = ProgressBar::render(25, 100, 2, 5.0, 15.0, 80, "demo");
  CHECK(s.rfind("demo [", 0) == 0);
  CHECK(s.find("25/100  25%") != std::string::npos);
  CHECK(s.find("ETA 15s") != std::string::npos);
  CHECK(s.find("2 failed") != std::string::npos);
  CHECK(s.size() <= 80);
  CHECK(ProgressBar::render(1, 3, 0, 0, -1, 20, "").size() <= 20);
  CHECK(ProgressBar::format_duration(184) == "3m04s");
  CHECK(ProgressBar::format_duration(7500) == "2h05m");
}

TEST_CASE("the folder lock refuses a second holder and leaves no file behind", "[quick][sweep]") {
  TempDir dir("dirlock");
  const auto lock_file = std::filesystem::path(dir.path) / ".lock";
  {
    DirLock first(dir.path);
    CHECK(std::filesystem::exists(lock_file));
    CHECK_THROWS_WITH(DirLock(dir.path), Catch::Contains("another moesim sweep is writing to this folder"));
  }
  CHECK_FALSE(std::filesystem::exists(lock_file));  // removed on release, also after a refusal
  DirLock again(dir.path);
  CHECK(std::filesystem::exists(lock_file));
}
