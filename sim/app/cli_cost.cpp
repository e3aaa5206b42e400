// `moesim cost experts`: the predicted time of one grouped SwiGLU expert block on one device, from
// the device's calibration table for a kernel backend or from the roofline, printed as JSON.
// With --batch, one query per line ("HIDDEN INTERMEDIATE DTYPE c1,c2,...") and one JSON line out
// per query, so that scripts (calibration/accuracy.py) need not start a process per point.
#include <fstream>
#include <iostream>
#include <sstream>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "sim/app/data_paths.h"
#include "sim/hardware/expert_cost_model.h"
#include "sim/io/errors.h"

namespace po = boost::program_options;

namespace moesim::cli {
namespace {

std::vector<int64_t> parse_counts(const std::string& text, const std::string& where) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || used == 0 || v < 0)
      throw InputError(fmt::format("{}: expected comma-separated token counts >= 0, got \"{}\"", where, item));
    out.push_back(v);
  }
  if (out.empty()) throw InputError(fmt::format("{}: expected at least one token count", where));
  return out;
}

Json answer(const ExpertCostModel& model, const std::string& backend, const std::string& hardware, int64_t hidden, int64_t inter,
            const std::string& dtype, const std::vector<int64_t>& counts) {
  const auto e = model.expert_block(hidden, inter, dtype, counts);
  int64_t total = 0, active = 0;
  for (int64_t c : counts) total += c, active += c > 0;
  return Json{{"hardware", hardware},   {"backend", backend.empty() ? "roofline" : backend},
              {"source", e.source},     {"time_us", e.time.us()},
              {"extrapolated", e.extrapolated}, {"hidden", hidden},
              {"intermediate", inter},  {"dtype", dtype},
              {"experts", int64_t(counts.size())}, {"active_experts", active},
              {"total_tokens", total}};
}

int cost_experts(const std::vector<std::string>& args) {
  po::options_description opts("moesim cost experts --hardware NAME [--kernel BACKEND] --hidden H --intermediate F --counts c1,c2,...");
  opts.add_options()("help,h", "show this help")("hardware", po::value<std::string>(), "hardware profile name or path (hw_profiles/)")(
      "kernel", po::value<std::string>()->default_value(""),
      "expert-block backend of the calibration table (cublas-grouped, torch-grouped-mm); empty or \"roofline\" = roofline")(
      "hidden", po::value<int64_t>(), "hidden size")("intermediate", po::value<int64_t>(), "expert intermediate size")(
      "dtype", po::value<std::string>()->default_value("bf16"), "expert dtype (bf16, fp8)")(
      "counts", po::value<std::string>(), "tokens per local expert, comma-separated")(
      "batch", po::value<std::string>(), "file of queries, one per line: HIDDEN INTERMEDIATE DTYPE c1,c2,... (- = stdin)")(
      "allow-extrapolation", "extrapolate outside the measured grid instead of refusing");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fmt::print(stderr, "moesim cost experts: error: {}\n", e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\nPrints {\"time_us\", \"source\", \"backend\", \"extrapolated\", ...} as JSON.\n";
    return 0;
  }
  const bool batch = vm.count("batch") > 0;
  if (!vm.count("hardware") || (!batch && (!vm.count("hidden") || !vm.count("intermediate") || !vm.count("counts")))) {
    fmt::print(stderr, "moesim cost experts: error: needs --hardware and either --hidden, --intermediate, --counts or --batch\n");
    return 2;
  }
  const auto hw = load_hardware_file(resolve_data_file(vm["hardware"].as<std::string>(), "hw_profiles", ""));
  std::string backend = vm["kernel"].as<std::string>();
  if (backend == "roofline") backend.clear();
  const ExpertCostModel model(hw, backend, vm.count("allow-extrapolation") > 0);
  if (!batch) {
    const auto counts = parse_counts(vm["counts"].as<std::string>(), "--counts");
    fmt::print("{}\n", answer(model, backend, hw.name, vm["hidden"].as<int64_t>(), vm["intermediate"].as<int64_t>(),
                              vm["dtype"].as<std::string>(), counts).dump());
    return 0;
  }
  const std::string path = vm["batch"].as<std::string>();
  std::ifstream file;
  if (path != "-") {
    file.open(path);
    if (!file) throw InputError(fmt::format("{}: cannot read", path));
  }
  std::istream& in = path == "-" ? std::cin : file;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    int64_t h = 0, f = 0;
    std::string dtype, counts;
    if (!(ls >> h >> f >> dtype >> counts)) throw InputError(fmt::format("{}:{}: expected HIDDEN INTERMEDIATE DTYPE COUNTS", path, lineno));
    Json out;
    try {
      out = answer(model, backend, hw.name, h, f, dtype, parse_counts(counts, fmt::format("{}:{}", path, lineno)));
    } catch (const InputError& e) {  // one refused query does not end the batch
      out = Json{{"error", e.what()}, {"hidden", h}, {"intermediate", f}, {"dtype", dtype}};
    }
    fmt::print("{}\n", out.dump());
  }
  return 0;
}

}  // namespace

int cost(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    fmt::print(args.empty() ? stderr : stdout,
               "usage: moesim cost experts --hardware NAME [--kernel BACKEND] --hidden H --intermediate F [--dtype bf16]\n"
               "                           --counts c1,c2,... [--allow-extrapolation]   (or --batch FILE)\n");
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "experts") return cost_experts(std::vector<std::string>(args.begin() + 1, args.end()));
  fmt::print(stderr, "moesim cost: error: unknown target \"{}\" (experts)\n", args[0]);
  return 2;
}

}  // namespace moesim::cli
