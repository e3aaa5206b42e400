#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "sim/cli/cli.h"
#include "sim/scenario/experiment_config.h"
#include "sim/scenario/simulation.h"
#include "sim/hardware/calibration_table.h"
#include "sim/io/expert_counts_file.h"
#include "sim/io/routing_trace.h"
#include "sim/sweep/sweep_spec.h"

namespace moesim::cli {
namespace {

// Reads every token of a routing trace, so that a bad expert id or gate weight anywhere in it is
// found now (a run reads only the tokens it replays).
void read_whole_trace(const std::string& path) {
  RoutingTrace t(path);
  std::vector<int32_t> ids(static_cast<size_t>(t.header().top_k));
  std::vector<float> w(static_cast<size_t>(t.header().top_k));
  for (size_t l = 0; l < t.header().layers.size(); ++l)
    for (int64_t tok = 0; tok < t.header().tokens; ++tok) t.read_token(l, tok, ids.data(), w.data());
}

// Validates one file by its kind, fully: an experiment is also built (placement, routing
// source, topology) so that layout errors surface here.
// overrides: the --set FIELD=VALUE arguments, applied to experiments as `moesim run` applies them.
std::string validate_file(const std::string& path, const std::vector<std::string>& overrides) {
  if (std::filesystem::path(path).extension() == ".npz") {
    read_whole_trace(path);
    return "routing trace";
  }
  const auto doc = JsonDocument::load_file(path);
  const Json& j = doc.json();
  if (!j.is_object()) throw input_error(path, "$", "expected a JSON object");
  if (j.contains("cluster") || j.contains("workload")) {
    ExperimentConfig config = load_experiment(path, overrides);
    const std::string trace = config.routing.source == "trace" ? config.routing.file : "";
    Simulation sim(std::move(config));
    if (!trace.empty()) read_whole_trace(trace);  // every token, as `run` may replay it
    return "experiment";
  }
  if (!overrides.empty()) throw input_error(path, "$", "--set applies to experiments (\"cluster\", \"workload\"); this file is none");
  if (j.contains("base") && (j.contains("axes") || j.contains("points"))) {
    const SweepSpec spec = load_sweep(path);
    for (const auto& p : spec.points) validate_point(spec, p);  // as `moesim sweep --stop-after 0` does, on one thread
    return fmt::format("sweep, {} points", spec.points.size());
  }
  if (j.contains("hidden_size")) {
    parse_model(doc.root());
    return "model";
  }
  if (j.contains("hbm_capacity")) {
    parse_hardware(doc.root());
    return "hardware profile";
  }
  if (j.contains("format") && j["format"].is_string() && j["format"].get<std::string>().rfind("moesim-calibration", 0) == 0) {
    parse_calibration(doc.root());
    return "calibration table";
  }
  if (j.contains("logical_count") || j.contains("counts")) {
    load_expert_counts(path);
    return "expert counts";
  }
  throw input_error(path, "$", "cannot tell what this file is: expected an experiment (\"cluster\"), model (\"hidden_size\"), hardware profile (\"hbm_capacity\"), calibration table (\"format\": \"moesim-calibration-1\") or expert counts (\"logical_count\")");
}

}  // namespace

int validate(const std::vector<std::string>& args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << "usage: moesim validate FILE... [--set FIELD=VALUE]...\n\nChecks experiment, sweep, model, hardware, calibration-table, expert-count (.json) and\n"
                 "routing-trace (.npz) files; prints one line per file; exits non-zero if any is invalid.\n"
                 "--set overrides a field of every experiment given, as `moesim run` does.\n";
    return 0;
  }
  std::vector<std::string> files, overrides;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--set") {
      if (i + 1 == args.size()) throw InputError("--set: expected FIELD=VALUE after it");
      overrides.push_back(args[++i]);
    } else if (args[i].rfind("--set=", 0) == 0) {
      overrides.push_back(args[i].substr(6));
    } else {
      files.push_back(args[i]);
    }
  }
  if (files.empty()) throw InputError("validate: expected one or more files (moesim validate FILE... [--set FIELD=VALUE]...)");
  int bad = 0;
  for (const auto& f : files) {
    try {
      const std::string kind = validate_file(f, overrides);
      fmt::print("ok: {} ({})\n", f, kind);
    } catch (const std::exception& e) {
      std::string msg = e.what();
      for (char& c : msg)
        if (c == '\n') c = ' ';
      fmt::print(stderr, "moesim: error: {}\n", msg);
      ++bad;
    }
  }
  return bad ? 2 : 0;
}

}  // namespace moesim::cli
