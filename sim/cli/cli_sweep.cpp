// `moesim sweep SWEEP.json --out DIR [--jobs N] [--shard I/N] [--quiet]` and
// `moesim sweep merge DIR... --out DIR`: option parsing and the summary line; the work is in
// sweep_spec (parse, expand), sweep_runner (run, resume, merge) and sweep_output (rows, CSV).
#include <unistd.h>

#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "sim/cli/cli.h"
#include "sim/cli/cli_options.h"
#include "sim/sweep/sweep_runner.h"

namespace po = boost::program_options;

namespace moesim::cli {
namespace {

const char* kSweepNotes =
    "\nRuns every point of SWEEP.json (a base experiment plus overrides per point, as --set) and\n"
    "writes DIR/sweep.json (the sweep, base inlined), DIR/results.jsonl (one row per point:\n"
    "point, id, status, overrides, metrics, error) and DIR/results.csv. Rows are appended as\n"
    "points finish; both files are rewritten sorted by point at the end, so they do not depend\n"
    "on --jobs. Rerunning the same command resumes: points with a row are skipped. Format:\n"
    "docs/sweeps.md.\n";

bool parse_shard(const std::string& s, int64_t& index, int64_t& count) {
  const auto slash = s.find('/');
  if (slash == std::string::npos) return false;
  try {
    size_t a = 0, b = 0;
    index = std::stoll(s.substr(0, slash), &a);
    count = std::stoll(s.substr(slash + 1), &b);
    return a == slash && b == s.size() - slash - 1 && count >= 1 && index >= 0 && index < count;
  } catch (const std::exception&) {
    return false;
  }
}

int merge(const std::vector<std::string>& args) {
  po::options_description opts("moesim sweep merge DIR... --out DIR");
  opts.add_options()("help,h", "show this help")("out,o", po::value<std::string>(), "merged output folder")("quiet,q", "print nothing on success");
  po::variables_map vm;
  if (!parse_options("sweep merge", args, opts, "dirs", vm, nullptr, -1)) return 2;
  if (vm.count("help")) {
    std::cout << opts << "\nMerges the output folders of a sweep's shards (--shard I/N) into one: checks that they\n"
                         "hold the same sweep and that every point has exactly one row.\n";
    return 0;
  }
  if (!vm.count("dirs") || !vm.count("out")) {
    fmt::print(stderr, "moesim: error: sweep merge: usage: moesim sweep merge DIR... --out DIR\n");
    return 2;
  }
  const std::string out = vm["out"].as<std::string>();
  const int64_t n = merge_sweeps(vm["dirs"].as<std::vector<std::string>>(), out);
  if (!vm.count("quiet")) fmt::print("merged {} points into {}/results.jsonl and {}/results.csv\n", n, out, out);
  return 0;
}

}  // namespace

int sweep(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "merge") return merge(std::vector<std::string>(args.begin() + 1, args.end()));
  po::options_description opts("moesim sweep SWEEP.json --out DIR [options]\n       moesim sweep merge DIR... --out DIR");
  opts.add_options()("help,h", "show this help")("out,o", po::value<std::string>(), "output folder (created if missing; resumed if it holds this sweep)")(
      "jobs,j", po::value<int>()->default_value(1), "points simulated in parallel")(
      "shard", po::value<std::string>(), "I/N: run only the points whose index % N == I (0-based)")(
      "quiet,q", "no progress bar and no summary")(
      "stop-after", po::value<int64_t>(), "stop after starting K points (0: validate the sweep only; moesim validate SWEEP.json does the same)");
  po::variables_map vm;
  if (!parse_options("sweep", args, opts, "sweep", vm)) return 2;
  if (vm.count("help")) {
    std::cout << opts << kSweepNotes;
    return 0;
  }
  if (!vm.count("sweep") || !vm.count("out")) {
    fmt::print(stderr, "moesim: error: sweep: usage: moesim sweep SWEEP.json --out DIR [--jobs N] [--shard I/N]\n");
    return 2;
  }
  SweepRunOptions opt;
  opt.out = vm["out"].as<std::string>();
  opt.jobs = vm["jobs"].as<int>();
  if (opt.jobs < 1 || opt.jobs > 4096) {
    fmt::print(stderr, "moesim: error: sweep: --jobs: expected 1 to 4096, got {}\n", opt.jobs);
    return 2;
  }
  if (vm.count("shard") && !parse_shard(vm["shard"].as<std::string>(), opt.shard_index, opt.shard_count)) {
    fmt::print(stderr, "moesim: error: sweep: --shard: expected I/N with 0 <= I < N, such as 0/4; got \"{}\"\n", vm["shard"].as<std::string>());
    return 2;
  }
  if (vm.count("stop-after")) {
    opt.stop_after = vm["stop-after"].as<int64_t>();
    if (opt.stop_after < 0) {
      fmt::print(stderr, "moesim: error: sweep: --stop-after: expected a count >= 0 (0: validate only), got {}\n", opt.stop_after);
      return 2;
    }
  }
  const bool quiet = vm.count("quiet") > 0;
  opt.progress = !quiet && ::isatty(STDERR_FILENO);
  const SweepSpec spec = load_sweep(vm["sweep"].as<std::string>());
  const SweepRunSummary s = run_sweep(spec, opt);
  if (!quiet) {
    const std::string shard = opt.shard_count > 1 ? fmt::format(" (shard {}/{})", opt.shard_index, opt.shard_count) : "";
    fmt::print("sweep {}{}: {} points, {} already done, {} run now in {:.1f} s ({:.1f} points/s), {} errors{}{}\n", spec.name, shard,
               s.points, s.already_done, s.ran, s.wall_s, s.wall_s > 0 ? static_cast<double>(s.ran) / s.wall_s : 0.0, s.errors,
               s.dropped_tail ? "; repaired a truncated last row" : "",
               s.complete ? "" : fmt::format("; stopped with {} left: rerun to resume", s.points - s.already_done - s.ran));
    fmt::print("wrote {}/results.jsonl and {}/results.csv\n", opt.out, opt.out);
  }
  return 0;
}

}  // namespace moesim::cli
