// `moesim trace import|stats`: imports routing data recorded by other tools into moesim's trace
// (.npz) or counts (JSON) formats (sim/import/importers.h), and summarises a trace or counts
// file per layer: load balance, cross-layer affinity and, for a placement, device balance
// (sim/import/trace_stats.h).
#include <charconv>
#include <filesystem>
#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "sim/cli/cli.h"
#include "sim/cli/cli_options.h"
#include "sim/io/errors.h"
#include "sim/import/importers.h"
#include "sim/import/trace_stats.h"
#include "sim/moe/model_config.h"
#include "sim/moe/placement_stats.h"
#include "sim/scenario/data_paths.h"
#include "sim/io/json_reader.h"

namespace po = boost::program_options;

namespace moesim::cli {
namespace {

// The shapes of the bundled models (models/*.json), for importers of data that names no model.
std::vector<ModelShape> bundled_model_shapes() {
  std::vector<ModelShape> out;
  for (const auto& name : bundled_names("models")) {
    const ModelConfig m = load_model_file(resolve_data_file(name, "models", ""));
    ModelShape s{m.name, m.num_layers, m.moe.num_experts, {}};
    for (int64_t l = 0; l < m.num_layers; ++l)
      if (m.layer_is_moe[l]) s.moe_layers.push_back(l);
    out.push_back(std::move(s));
  }
  return out;
}

const char* kTraceUsage =
    "usage: moesim trace import --from FORMAT IN OUT [options]\n"
    "       moesim trace stats FILE [--json] [--placement POLICY --devices N [--redundant R]]\n"
    "       moesim trace synth EXPERIMENT.json --tokens N --out OUT.npz [--set PATH=VALUE]\n"
    "\n"
    "  import   convert routing data recorded by SGLang, vLLM, Megatron-Core, TensorRT-LLM or\n"
    "           published routing studies into a moesim trace (.npz) or counts file (JSON)\n"
    "  stats    per-layer tokens, load balance, cross-layer affinity and placement balance\n"
    "  synth    draw a per-token trace from an experiment's synthetic or counts-based routing\n"
    "\n"
    "Run 'moesim trace import --help' or 'moesim trace stats --help' for the options.\n";

// "0,1,2", "0-31" or "0-2,5,7-9".
std::vector<int64_t> parse_layers(const std::string& text) {
  std::vector<int64_t> out;
  size_t i = 0;
  auto number = [&](int64_t& v) {
    const size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    if (i == start || i - start > 6) throw InputError(fmt::format("--layers: expected layer ids such as 0,1,2 or 0-31, got \"{}\"", text));
    std::from_chars(text.data() + start, text.data() + i, v);
  };
  while (i < text.size()) {
    int64_t a = 0, b = 0;
    number(a);
    b = a;
    if (i < text.size() && text[i] == '-') ++i, number(b);
    if (b < a || b - a > 100000) throw InputError(fmt::format("--layers: bad range in \"{}\"", text));
    for (int64_t l = a; l <= b; ++l) out.push_back(l);
    if (i < text.size() && text[i] != ',') throw InputError(fmt::format("--layers: expected layer ids such as 0,1,2 or 0-31, got \"{}\"", text));
    if (i < text.size()) ++i;
  }
  for (size_t x = 0; x < out.size(); ++x)
    for (size_t y = 0; y < x; ++y)
      if (out[x] == out[y]) throw InputError(fmt::format("--layers: layer {} is listed twice", out[x]));
  return out;
}

bool parse(const char* cmd, const std::vector<std::string>& args, const po::options_description& visible,
           const po::options_description& hidden, const po::positional_options_description& pos, po::variables_map& vm) {
  po::options_description all;
  all.add(visible).add(hidden);
  try {
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fmt::print(stderr, "moesim: error: trace {}: {}\n", cmd, e.what());
    return false;
  }
  return true;
}

int import(const std::vector<std::string>& args) {
  po::options_description opts("moesim trace import --from FORMAT IN OUT [options]");
  opts.add_options()("help,h", "show this help and the formats")("from,f", po::value<std::string>(), "input format (below)")(
      "model", po::value<std::string>(), "model name written into OUT (required where the data names none)")(
      "experts", po::value<int64_t>(), "number of routed experts (required where the data does not say; checked otherwise)")(
      "top-k", po::value<int64_t>(), "experts per token (checked against the data)")(
      "layers", po::value<std::string>(), "model layer ids, e.g. 0-31 or 3,5,7: of each position of a layer axis, or the ids "
                                          "the records must carry")(
      "missing", po::value<std::string>()->default_value("drop"), "mixtral-jsonl: drop tokens lacking a layer, or sample the "
                                                                  "missing (token, layer) from the layer's expert distribution")(
      "seed", po::value<int64_t>()->default_value(0), "seed of --missing sample (0 to 2^53)")("quiet,q", "print nothing on success");
  po::options_description hidden;
  hidden.add_options()("in", po::value<std::string>())("out", po::value<std::string>());
  po::positional_options_description pos;
  pos.add("in", 1).add("out", 1);
  po::variables_map vm;
  if (!parse("import", args, opts, hidden, pos, vm)) return 2;
  if (vm.count("help")) {
    std::cout << opts << "\nformats:\n";
    for (const auto& e : importer_registry().entries())
      std::cout << fmt::format("  {:<15} {}\n  {:<15} recorder: {}\n", e.name, e.description, "", e.citation);
    std::cout << "\nEvery input is validated; an error is one line naming the file and the line, JSON path or\n"
                 "byte offset, and no OUT is written. OUT is written atomically. See docs/traces.md.\n";
    return 0;
  }
  if (!vm.count("from") || !vm.count("in") || !vm.count("out")) {
    fmt::print(stderr, "moesim: error: trace import: usage: moesim trace import --from FORMAT IN OUT (formats: {})\n",
               fmt::join(importer_registry().names(), ", "));
    return 2;
  }
  const std::string from = vm["from"].as<std::string>();
  const auto* entry = importer_registry().find(from);
  if (!entry) {
    std::string guess = closest(from, importer_registry().names());
    for (const auto& name : importer_registry().names())
      if (name.rfind(from, 0) == 0) guess = name;  // a prefix ("mixtral") names it best
    throw InputError(fmt::format("--from: unknown format \"{}\"; did you mean \"{}\"? (one of {})", from, guess,
                                 fmt::join(importer_registry().names(), ", ")));
  }
  ImportOptions o;
  o.models = bundled_model_shapes();
  if (vm.count("model")) o.model = vm["model"].as<std::string>();
  if (vm.count("experts")) o.experts = vm["experts"].as<int64_t>();
  if (vm.count("top-k")) o.top_k = vm["top-k"].as<int64_t>();
  if (o.experts > (1 << 20) || o.top_k > (1 << 20)) throw InputError("--experts and --top-k must be at most 1048576 (what a model file accepts)");
  if (o.experts < 0 || o.top_k < 0 || (vm.count("experts") && o.experts == 0) || (vm.count("top-k") && o.top_k == 0))
    throw InputError("--experts and --top-k must be positive");
  if (vm.count("layers")) o.layers = parse_layers(vm["layers"].as<std::string>());
  o.missing = vm["missing"].as<std::string>();
  o.seed = seed_from_flag(vm["seed"].as<int64_t>());
  const std::string in = vm["in"].as<std::string>(), out = vm["out"].as<std::string>();
  std::error_code same_ec;
  if (std::filesystem::equivalent(in, out, same_ec))
    throw input_error(out, "", fmt::format("is the input {}: write the import to another file", in));
  const Imported result = entry->factory(in, o);
  write_imported(out, result);
  if (!vm.count("quiet")) {
    if (result.is_trace) {
      const auto& h = result.trace.header;
      fmt::print("wrote {}: moesim trace of {}, {} layers x {} tokens x top-{} of {} experts{}\n", out, h.model, h.layers.size(), h.tokens, h.top_k,
                 h.num_experts, result.trace.weights.empty() ? "" : ", with gate weights");
    } else {
      const auto& c = result.counts;
      fmt::print("wrote {}: moesim counts of {}, {} layers x {} experts{}{}\n", out, c.model, c.layers.size(), c.num_experts,
                 c.top_k ? fmt::format(", top-{}", c.top_k) : "", c.pair_counts.empty() ? "" : fmt::format(", {} layer pairs", c.pair_counts.size()));
    }
    for (const auto& note : result.notes) fmt::print("  {}\n", note);
  }
  return 0;
}

int stats(const std::vector<std::string>& args) {
  po::options_description opts("moesim trace stats FILE [options]");
  opts.add_options()("help,h", "show this help")("json", "print one JSON object instead of a table")(
      "placement", po::value<std::string>(), "also place each MoE layer with this policy (moesim list placements)")(
      "devices", po::value<int64_t>(), "expert-parallel devices for --placement")(
      "redundant", po::value<int64_t>()->default_value(0), "redundant expert slots for --placement")(
      "devices-per-node", po::value<int64_t>()->default_value(8), "devices per node for --placement")(
      "groups", po::value<int64_t>()->default_value(1), "expert groups (group-limited models) for --placement");
  po::variables_map vm;
  if (!parse_options("trace stats", args, opts, "file", vm)) return 2;
  if (vm.count("help")) {
    std::cout << opts << "\nFILE is a moesim trace (.npz) or a counts JSON (moesim-counts or SGLang logical_count).\n"
                         "Per layer: tokens, (token, expert) assignments, max/mean expert load; for traces (and counts\n"
                         "with pair_counts) the affinity to the previous stored layer: mutual information of the top-1\n"
                         "experts (bits, Miller-Madow corrected), and how often a token's expert is the most frequent\n"
                         "successor of its previous one, against what independence predicts. --json prints \"layers\"\n"
                         "with layer, tokens, assignments, load_max_over_mean (and device_load_max_over_mean with\n"
                         "--placement; the top-level key of that name is its mean over MoE layers). See docs/traces.md.\n";
    return 0;
  }
  if (!vm.count("file")) {
    fmt::print(stderr, "moesim: error: trace stats: usage: moesim trace stats FILE [--json]\n");
    return 2;
  }
  if (vm.count("placement") != vm.count("devices")) throw InputError("--placement and --devices go together");
  auto s = routing_stats(vm["file"].as<std::string>());
  StatsPlacement p;
  const bool placed = vm.count("placement") > 0;
  if (placed) {
    p.policy = vm["placement"].as<std::string>();
    p.devices = vm["devices"].as<int64_t>();
    p.redundant = vm["redundant"].as<int64_t>();
    p.devices_per_node = vm["devices-per-node"].as<int64_t>();
    p.groups = vm["groups"].as<int64_t>();
    add_device_loads(s, p);
  }
  if (vm.count("json")) std::cout << stats_to_json(s, placed ? &p : nullptr).dump(1) << "\n";
  else std::cout << stats_to_text(s, placed ? &p : nullptr);
  return 0;
}

}  // namespace

int trace(const std::vector<std::string>& args) {
  if (args.empty()) throw InputError("trace: expected a subcommand (import, stats); moesim trace --help describes them");
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kTraceUsage, stdout);
    return 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "import") return import(rest);
  if (args[0] == "stats") return stats(rest);
  if (args[0] == "synth") return trace_synth(rest);
  fmt::print(stderr, "moesim: error: trace: unknown subcommand \"{}\" (import, stats, synth)\n", args[0]);
  return 2;
}

}  // namespace moesim::cli
