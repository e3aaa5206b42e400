// `moesim cost experts`: the predicted time of one grouped SwiGLU expert block on one device, from
// the same device cost model `moesim run` uses (sim/hardware/device_cost.h: the backend "auto" by
// default, a named measured backend, or the roofline), printed as JSON.
// With --batch, one query per line ("HIDDEN INTERMEDIATE DTYPE c1,c2,...") and one JSON line out
// per query, so that scripts (calibration/accuracy.py) need not start a process per point.
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <fmt/ranges.h>

#include "sim/cli/cli.h"
#include "sim/cli/cli_options.h"
#include "sim/cli/cli_cost_common.h"
#include "sim/hardware/device_cost.h"
#include "sim/hardware/expert_backends.h"
#include "sim/io/errors.h"
#include "sim/io/json_reader.h"
#include "sim/scenario/data_paths.h"
#include "sim/io/input_file.h"

namespace po = boost::program_options;

namespace moesim::cli {
namespace {

Dtype parse_expert_dtype(const std::string& name, const std::string& where) {
  const auto d = parse_dtype(name);
  if (!d || (*d != Dtype::Bf16 && *d != Dtype::Fp8)) throw InputError(fmt::format("{}: expected an expert dtype (bf16, fp8), got \"{}\"", where, name));
  return *d;
}

// Where a query's fields came from, for errors: the flags of one query, or a batch file's line.
struct QueryWhere {
  std::string hidden, intermediate, dtype, counts;
  static QueryWhere flags() { return {"--hidden", "--intermediate", "--dtype", "--counts"}; }
  static QueryWhere line(const std::string& at) { return {at + ": HIDDEN", at + ": INTERMEDIATE", at + ": DTYPE", at + ": COUNTS"}; }
};

Json answer(CostModels& models, int64_t hidden, int64_t inter, const std::string& dtype_name, const std::vector<int64_t>& counts, const QueryWhere& where) {
  // The bounds model files take (sim/moe/model_config.cpp): hidden at most 2^20.
  if (hidden <= 0 || hidden > (INT64_C(1) << 20))
    throw InputError(fmt::format("{}: expected a hidden size from 1 to {}, got {}", where.hidden, INT64_C(1) << 20, hidden));
  if (inter <= 0) throw InputError(fmt::format("{}: expected a positive intermediate size, got {}", where.intermediate, inter));
  const Dtype dtype = parse_expert_dtype(dtype_name, where.dtype);
  OpTime e;
  try {
    e = models.get(dtype).expert_block(hidden, static_cast<double>(inter), dtype, dtype_bytes(dtype), 2.0, counts);
  } catch (const std::overflow_error&) {
    throw InputError(fmt::format("{}: the expert block would last longer than the simulated clock holds (2^63 ps, about 106 days); "
                                 "check the token counts and sizes", where.counts));
  }
  int64_t total = 0, active = 0;
  for (int64_t c : counts) total += c, active += c > 0;
  return Json{{"hardware", models.hardware().name}, {"backend", models.backend()},
              {"source", e.source},     {"time_us", e.time.us()},
              {"extrapolated", e.extrapolated}, {"hidden", hidden},
              {"intermediate", inter},  {"dtype", dtype_name},
              {"experts", int64_t(counts.size())}, {"active_experts", active},
              {"total_tokens", total}};
}

// One query per line; a refused line gets an {"error"} row and the batch goes on (exit 1 at the end).
int run_batch(CostModels& models, const std::string& path) {
  return run_batch_lines(path, [&](const std::string& line, const std::string& where) {
    std::istringstream ls(line);
    int64_t h = 0, f = 0;
    std::string dtype, counts, extra;
    if (!(ls >> h >> f >> dtype >> counts) || (ls >> extra)) throw InputError("expected HIDDEN INTERMEDIATE DTYPE COUNTS");
    return answer(models, h, f, dtype, parse_counts(counts, where), QueryWhere::line(where));
  });
}

int cost_experts(const std::vector<std::string>& args) {
  po::options_description opts("moesim cost experts --hardware NAME [--kernel BACKEND] --hidden H --intermediate F --counts c1,c2,...");
  opts.add_options()("help,h", "show this help")("hardware", po::value<std::string>(), "hardware profile name or path (hw_profiles/)")(
      "kernel", po::value<std::string>()->default_value("auto"),
      "expert-block backend (moesim list backends): auto (what `moesim run` uses), roofline, cublas-grouped, torch-grouped-mm; "
      "empty = roofline")(
      "hidden", po::value<int64_t>(), "hidden size")("intermediate", po::value<int64_t>(), "expert intermediate size")(
      "dtype", po::value<std::string>()->default_value("bf16"), "expert dtype (bf16, fp8)")(
      "counts", po::value<std::string>(), "tokens per local expert, comma-separated")(
      "batch", po::value<std::string>(), "file of queries, one per line: HIDDEN INTERMEDIATE DTYPE c1,c2,... (- = stdin)")(
      "allow-extrapolation", "a named measured backend extrapolates outside its grid instead of refusing (auto always does)");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fmt::print(stderr, "moesim: error: cost experts: {}\n", e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\nPrints {\"time_us\", \"source\", \"backend\", \"extrapolated\", ...} as JSON.\n";
    return 0;
  }
  const bool batch = vm.count("batch") > 0;
  if (!vm.count("hardware") || (!batch && (!vm.count("hidden") || !vm.count("intermediate") || !vm.count("counts")))) {
    fmt::print(stderr, "moesim: error: cost experts: needs --hardware and either --hidden, --intermediate, --counts or --batch\n");
    return 2;
  }
  std::string backend = vm["kernel"].as<std::string>();
  if (backend.empty()) backend = "roofline";
  if (!expert_backend_registry().find(backend))
    throw InputError(fmt::format("--kernel: unknown backend \"{}\"; did you mean \"{}\"? ({})", backend, closest(backend, expert_backend_registry().names()),
                                 fmt::join(expert_backend_registry().names(), ", ")));
  if (vm.count("allow-extrapolation") && expert_backend_registry().find(backend)->traits.kind != ExpertBackendKind::Measured)
    throw InputError(fmt::format("--allow-extrapolation: has no effect with --kernel {} ({}); it lets a named measured backend extrapolate", backend,
                                 backend == "auto" ? "auto extrapolates where it must, and says so" : "it has no measured grid"));
  CostModels models(hardware_from_flag(vm["hardware"].as<std::string>(), "--hardware"), backend, vm.count("allow-extrapolation") > 0);
  models.get(parse_expert_dtype(vm["dtype"].as<std::string>(), "--dtype"));  // a named backend without a table fails here
  if (batch) {
    for (const char* o : {"hidden", "intermediate", "counts", "dtype"})
      if (vm.count(o) && !vm[o].defaulted()) throw InputError(fmt::format("--{}: with --batch every query comes from the batch file", o));
    return run_batch(models, vm["batch"].as<std::string>());
  }
  const auto counts = parse_counts(vm["counts"].as<std::string>(), "--counts");
  fmt::print("{}\n", answer(models, vm["hidden"].as<int64_t>(), vm["intermediate"].as<int64_t>(), vm["dtype"].as<std::string>(), counts, QueryWhere::flags()).dump());
  return 0;
}

}  // namespace

int cost(const std::vector<std::string>& args) {
  if (args.empty()) throw InputError("cost: expected a target (experts, layer, op); moesim cost --help describes them");
  if (args[0] == "--help" || args[0] == "-h") {
    fmt::print(stdout,
               "usage: moesim cost experts --hardware NAME [--kernel BACKEND] --hidden H --intermediate F [--dtype bf16]\n"
               "                           --counts c1,c2,... [--allow-extrapolation]   (or --batch FILE)\n"
               "       moesim cost layer --model NAME --hardware NAME --phase prefill|decode --tokens T ...   (--help)\n"
               "       moesim cost op --hardware NAME --op OP --coords c1,c2,...   (--list: the device's ops and axes)\n");
    return 0;
  }
  if (args[0] == "experts") return cost_experts(std::vector<std::string>(args.begin() + 1, args.end()));
  if (args[0] == "layer") return cost_layer(std::vector<std::string>(args.begin() + 1, args.end()));
  if (args[0] == "op") return cost_op(std::vector<std::string>(args.begin() + 1, args.end()));
  fmt::print(stderr, "moesim: error: cost: unknown target \"{}\" (experts, layer, op)\n", args[0]);
  return 2;
}

}  // namespace moesim::cli
