#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "sim/cli/cli.h"
#include "sim/cli/cli_options.h"
#include "sim/scenario/simulation.h"
#include "sim/io/atomic_file.h"

namespace po = boost::program_options;

namespace moesim::cli {

int run(const std::vector<std::string>& args) {
  po::options_description opts("moesim run EXPERIMENT.json --out DIR [options]");
  opts.add_options()("help,h", "show this help")("out,o", po::value<std::string>(), "output folder (created if missing)")(
      "set", po::value<std::vector<std::string>>()->composing(), "override a field: --set parallel.expert_parallel=16 (repeatable)")(
      "timeline", "also write DIR/timeline.json (Chrome trace events; open in ui.perfetto.dev)")(
      "stats", "print wall time, events per second and peak RSS to stderr")(
      "threads,j", po::value<int>()->default_value(0), "threads for the per-layer pass (0 = one per core); results do not depend on it")(
      "quiet,q", "print nothing on success");
  po::variables_map vm;
  if (!parse_options("run", args, opts, "experiment", vm)) return 2;
  if (vm.count("help")) {
    std::cout << opts << "\nWrites DIR/report.json (schema: sim/io/report.schema.json); writes are atomic.\n";
    return 0;
  }
  if (!vm.count("experiment") || !vm.count("out")) {
    fmt::print(stderr, "moesim: error: run: usage: moesim run EXPERIMENT.json --out DIR\n");
    return 2;
  }
  const std::string out = vm["out"].as<std::string>();
  const auto overrides = vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
  auto config = load_experiment(vm["experiment"].as<std::string>(), overrides);
  const int threads_given = vm["threads"].as<int>();
  if (threads_given < 0) throw input_error("--threads", "", "expected 0 (one per core) or a positive number of threads");
  const int threads = threads_given > 0 ? threads_given : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Simulation sim(std::move(config), threads);
  sim.set_threads(threads);
  const bool show_progress = !vm.count("quiet") && ::isatty(STDERR_FILENO);
  if (show_progress)
    sim.set_progress([](int64_t done, int64_t total) { fmt::print(stderr, "\rsimulated layer {}/{}", done, total); });
  sim.freeze();
  sim.run();
  if (show_progress) fmt::print(stderr, "\r\033[K");
  const std::string report = sim.report().dump(1) + "\n";
  const std::string timeline = vm.count("timeline") ? sim.timeline().dump() + "\n" : std::string();
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec || !std::filesystem::is_directory(out)) throw input_error("--out", "", fmt::format("{}: cannot create output folder: {}", out, ec ? ec.message() : "not a folder"));
  if (!timeline.empty()) write_file_atomically(out + "/timeline.json", timeline);
  write_file_atomically(out + "/report.json", report);
  if (vm.count("stats")) {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const auto& s = sim.stats();
    fmt::print(stderr, "wall_s={:.3f} events={} events_per_s={:.0f} ops={} peak_rss_mib={:.1f}\n", s.wall_seconds, s.events,
               s.wall_seconds > 0 ? static_cast<double>(s.events) / s.wall_seconds : 0.0, s.ops, static_cast<double>(ru.ru_maxrss) / 1024.0);
  }
  if (!vm.count("quiet")) {
    const Json r = Json::parse(report);
    fmt::print("{}: step {:.3f} ms, {:.0f} tokens/s ({:.0f} per device), exposed comm {:.3f} ms, drops {:.2f}%, HBM max {:.1f} of {:.1f} GiB ({})\n",
               sim.config().name, r["step_time_us"].get<double>() / 1e3, r["tokens_per_s"].get<double>(), r["tokens_per_s_per_device"].get<double>(),
               r["breakdown_us"]["exposed_comm"].get<double>() / 1e3, 100.0 * r["drops"]["drop_fraction"].get<double>(),
               r["hbm"]["max_device_total_bytes"].get<double>() / 1073741824.0, r["hbm"]["usable_bytes"].get<double>() / 1073741824.0,
               r["hbm"]["fits"].get<bool>() ? "fits" : "DOES NOT FIT");
    fmt::print("wrote {}/report.json{}\n", out, timeline.empty() ? "" : fmt::format(" and {}/timeline.json", out));
  }
  return 0;
}

}  // namespace moesim::cli
