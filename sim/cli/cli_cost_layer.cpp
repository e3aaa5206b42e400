// `moesim cost layer`: the predicted time of one whole transformer layer (attention + MoE) on one
// device, op by op, from the same ops and device cost model as `moesim run`
// (sim/moe/layer_ops.h, sim/scenario/layer_op_costs.h), in a CUDA graph and launched eagerly,
// printed as JSON. The expert block takes the given per-expert token counts (--counts), or the
// routed copies spread evenly over the local experts.
// With --batch, one JSON object per input line (the option names as keys, e.g.
// {"model": "mixtral-8x7b", "phase": "prefill", "tokens": 4096, "sequence_length": 4096,
//  "counts": [...]}) and one JSON line out per query; calibration/validate_layers.py uses it.
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "sim/cli/cli.h"
#include "sim/cli/cli_options.h"
#include "sim/cli/cli_cost_common.h"
#include "sim/hardware/expert_backends.h"
#include "sim/io/errors.h"
#include "sim/io/json_reader.h"
#include "sim/scenario/data_paths.h"
#include "sim/scenario/layer_op_costs.h"

namespace po = boost::program_options;

namespace moesim::cli {
namespace {

struct LayerQuery {
  std::string model, phase = "prefill", launch = "graph", weight_dtype = "bf16", expert_dtype = "bf16";
  int64_t tokens = 0, sequence_length = 0, context = 0, tp = 1, expert_parallel = 1;
  std::vector<int64_t> counts;
  bool counts_given = false;
  bool from_flags = false;  // errors name --flags (one query) or JSON keys (a batch line)
};

// How a query's field is named in errors: "--sequence-length" for flags, "sequence_length" in a batch.
std::string field(const LayerQuery& q, std::string key) {
  if (!q.from_flags) return key;
  std::replace(key.begin(), key.end(), '_', '-');
  return "--" + key;
}

Dtype dtype_of(const std::string& name, const std::string& where) {
  const auto d = parse_dtype(name);
  if (!d || (*d != Dtype::Bf16 && *d != Dtype::Fp8)) throw InputError(fmt::format("{}: expected bf16 or fp8, got \"{}\"", where, name));
  return *d;
}

Json ops_json(const CostedOps& ops) {
  Json out = Json::array();
  for (const auto& o : ops.ops)
    out.push_back({{"name", o.name}, {"kind", o.name == "experts" ? "experts" : layer_op_kind_name(o.kind)}, {"gpu_us", o.gpu.us()},
                   {"host_us", o.host.us()}, {"source", o.source}, {"extrapolated", o.extrapolated}});
  return out;
}

Json answer(CostModels& models, std::map<std::string, ModelConfig>& model_cache, const LayerQuery& q) {
  if (!model_cache.count(q.model)) model_cache.emplace(q.model, model_from_flag(q.model, field(q, "model")));
  const ModelConfig& m = model_cache.at(q.model);
  if (q.tokens <= 0 || q.tokens > (INT64_C(1) << 24))
    throw InputError(fmt::format("{}: expected a count from 1 to {}, got {}", field(q, "tokens"), INT64_C(1) << 24, q.tokens));
  if (q.sequence_length < 0) throw InputError(fmt::format("{}: must not be negative, got {}", field(q, "sequence_length"), q.sequence_length));
  if (q.context < 0) throw InputError(fmt::format("{}: must not be negative, got {}", field(q, "context"), q.context));
  if (q.phase == "prefill" && q.context > 0) throw InputError(fmt::format("{}: prefill takes {} (tokens per sequence), not a context", field(q, "context"), field(q, "sequence_length")));
  if (q.phase == "decode" && q.sequence_length > 0) throw InputError(fmt::format("{}: decode takes {} (cached tokens per sequence)", field(q, "sequence_length"), field(q, "context")));
  if (q.sequence_length > q.tokens)
    throw InputError(fmt::format("{}: {} is more than the tokens on the device ({})", field(q, "sequence_length"), q.sequence_length, q.tokens));
  if (q.context > (INT64_C(1) << 24)) throw InputError(fmt::format("{}: at most {} tokens, got {}", field(q, "context"), INT64_C(1) << 24, q.context));
  if (q.phase != "prefill" && q.phase != "decode") throw InputError(fmt::format("{}: expected prefill or decode, got \"{}\"", field(q, "phase"), q.phase));
  if (q.launch != "graph" && q.launch != "eager") throw InputError(fmt::format("{}: expected graph or eager, got \"{}\"", field(q, "launch"), q.launch));
  LayerShape s;
  s.tokens = q.tokens;
  s.decode = q.phase == "decode";
  s.sequence_length = q.sequence_length > 0 ? q.sequence_length : q.tokens;
  s.context = q.context;
  if (s.decode && s.context <= 0) throw InputError(fmt::format("{}: decode needs the cached tokens per sequence", field(q, "context")));
  if (q.tp < 1 || m.attention.num_heads % q.tp != 0)
    throw InputError(fmt::format("{}: expected a divisor of the model's {} attention heads, got {}", field(q, "tp"), m.attention.num_heads, q.tp));
  s.tensor_parallel = q.tp;
  s.weight_dtype = dtype_of(q.weight_dtype, field(q, "weight_dtype"));
  const Dtype ed = dtype_of(q.expert_dtype, field(q, "expert_dtype"));
  s.quantise_dispatch = ed == Dtype::Fp8;
  const int64_t ep = q.expert_parallel;
  if (ep < 1 || m.moe.num_experts % ep != 0)
    throw InputError(fmt::format("{}: expected a divisor of the model's {} experts, got {}", field(q, "expert_parallel"), m.moe.num_experts, ep));
  const int64_t local = m.moe.num_experts / ep;
  std::vector<int64_t> counts = q.counts;
  if (q.counts_given && static_cast<int64_t>(counts.size()) != local)
    throw InputError(fmt::format("{}: expected one token count per local expert ({} experts / EP {} = {}), got {}", field(q, "counts"), m.moe.num_experts, ep,
                                 local, counts.size()));
  // An expert takes each token of the EP group at most once: tokens x EP per local expert.
  for (size_t i = 0; i < counts.size(); ++i)
    if (counts[i] > q.tokens * ep)
      throw InputError(fmt::format("{}: count {} of local expert {} is more than the {} tokens x EP {} that can reach it", field(q, "counts"),
                                   counts[i], i, q.tokens, ep));
  if (!q.counts_given) counts = even_counts(q.tokens * m.moe.top_k, local);
  const auto r = cost_single_layer(m, models.get(ed), s, counts, ed, dtype_bytes(ed), 1);
  Json by_kind = Json::object();
  for (const auto& o : r.ops.ops) {
    const std::string k = o.name == "experts" ? "experts" : layer_op_kind_name(o.kind);
    by_kind[k] = by_kind.value(k, 0.0) + o.gpu.us();
  }
  return Json{{"model", m.name}, {"hardware", models.hardware().name}, {"phase", q.phase}, {"tokens", q.tokens},
              {"sequence_length", s.decode ? 0 : s.sequence_length}, {"context", s.decode ? s.context : 0}, {"tp", q.tp},
              {"expert_backend", models.backend()}, {"launch_mode", q.launch}, {"expert_parallel", ep},
              {"weight_dtype", q.weight_dtype}, {"expert_dtype", q.expert_dtype}, {"expert_counts", counts},
              {"time_us", (q.launch == "eager" ? r.eager : r.graph).us()}, {"graph_us", r.graph.us()}, {"eager_us", r.eager.us()},
              {"by_kind_us", by_kind}, {"ops", ops_json(r.ops)}};
}

LayerQuery query_of_json(const Json& j, const std::string& where) {
  if (!j.is_object()) throw InputError(where + ": expected a JSON object");
  LayerQuery q;
  for (const auto& [k, v] : j.items()) {
    if (v.is_null()) continue;  // null: the default, as in experiment files
    if (k == "model" || k == "phase" || k == "launch" || k == "weight_dtype" || k == "expert_dtype") {
      if (!v.is_string()) throw InputError(fmt::format("{}: {}: expected a string", where, k));
      (k == "model" ? q.model : k == "phase" ? q.phase : k == "launch" ? q.launch : k == "weight_dtype" ? q.weight_dtype : q.expert_dtype) = v;
    } else if (k == "tokens" || k == "sequence_length" || k == "context" || k == "tp" || k == "expert_parallel") {
      if (!v.is_number_integer()) throw InputError(fmt::format("{}: {}: expected an integer", where, k));
      (k == "tokens" ? q.tokens : k == "sequence_length" ? q.sequence_length : k == "context" ? q.context : k == "tp" ? q.tp : q.expert_parallel) =
          v.get<int64_t>();
    } else if (k == "counts") {
      if (!v.is_array() || v.empty()) throw InputError(where + ": counts: expected a non-empty array of token counts");
      q.counts_given = true;
      for (const auto& c : v) {
        if (!c.is_number_integer() || c.get<int64_t>() < 0) throw InputError(where + ": counts: expected token counts >= 0");
        q.counts.push_back(c.get<int64_t>());
      }
    } else {
      throw InputError(fmt::format("{}: unknown key \"{}\" (model, phase, tokens, sequence_length, context, tp, expert_parallel, counts, "
                                   "launch, weight_dtype, expert_dtype)", where, k));
    }
  }
  if (q.model.empty()) throw InputError(where + ": model: required");
  return q;
}

int run_batch(CostModels& models, const std::string& path) {
  std::map<std::string, ModelConfig> cache;
  return run_batch_lines(path, [&](const std::string& line, const std::string&) {
    // The JSON file reader's checks (duplicate keys, nesting, numbers out of range) for each line.
    const JsonDocument doc = JsonDocument::parse_text(line, "query");
    return answer(models, cache, query_of_json(doc.json(), "query"));
  });
}

}  // namespace

int cost_layer(const std::vector<std::string>& args) {
  po::options_description opts("moesim cost layer --model NAME --hardware NAME --tokens T [--phase prefill|decode] [options]");
  opts.add_options()("help,h", "show this help")("model", po::value<std::string>(), "model name or path (models/)")(
      "hardware", po::value<std::string>(), "hardware profile name or path (hw_profiles/)")(
      "phase", po::value<std::string>()->default_value("prefill"), "prefill or decode")(
      "tokens", po::value<int64_t>(), "tokens on the device (decode: sequences, one token each)")(
      "sequence-length", po::value<int64_t>()->default_value(0), "prefill: tokens per sequence (default: all tokens one sequence)")(
      "context", po::value<int64_t>()->default_value(0), "decode: cached tokens per sequence")(
      "tp", po::value<int64_t>()->default_value(1), "attention tensor parallelism")(
      "expert-parallel", po::value<int64_t>()->default_value(1), "expert parallelism (local experts = experts / EP)")(
      "counts", po::value<std::string>(), "tokens per local expert, comma-separated, one per local expert (experts / EP); "
                                          "default: tokens x top_k spread evenly")(
      "kernel", po::value<std::string>()->default_value("auto"), "expert-block backend (moesim list backends)")(
      "launch", po::value<std::string>()->default_value("graph"), "graph or eager (the time_us reported)")(
      "weight-dtype", po::value<std::string>()->default_value("bf16"), "attention, shared and dense weights: bf16 or fp8")(
      "expert-dtype", po::value<std::string>()->default_value("bf16"), "experts: bf16 or fp8 (fp8 adds the activation quantisation)")(
      "batch", po::value<std::string>(), "file of queries, one JSON object per line (- = stdin)");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fmt::print(stderr, "moesim: error: cost layer: {}\n", e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\nPrints {\"time_us\", \"graph_us\", \"eager_us\", \"by_kind_us\", \"ops\": [...], ...} as JSON. The layer is costed\n"
                         "on an idle GPU, as one CUDA graph of its own (graph_us includes one graph launch): no all-to-all, no\n"
                         "tensor-parallel all-reduce, and no stretching of the shared expert beside an overlapped all-to-all\n"
                         "(moesim run adds those). --batch: one JSON object per line with these option names (underscores)\n"
                         "as keys; a refused line prints {\"error\"} and makes the exit status 1.\n";
    return 0;
  }
  const bool batch = vm.count("batch") > 0;
  if (!vm.count("hardware") || (!batch && (!vm.count("model") || !vm.count("tokens")))) {
    fmt::print(stderr, "moesim: error: cost layer: needs --hardware and either --model and --tokens, or --batch\n");
    return 2;
  }
  const std::string backend = vm["kernel"].as<std::string>().empty() ? "roofline" : vm["kernel"].as<std::string>();
  if (!expert_backend_registry().find(backend))
    throw InputError(fmt::format("--kernel: unknown backend \"{}\"; did you mean \"{}\"?", backend, closest(backend, expert_backend_registry().names())));
  CostModels models(hardware_from_flag(vm["hardware"].as<std::string>(), "--hardware"), backend, true);
  if (batch) {
    for (const char* o : {"model", "tokens", "counts"})
      if (vm.count(o)) throw InputError(fmt::format("--{}: with --batch every query comes from the batch file", o));
    for (const char* o : {"phase", "sequence-length", "context", "tp", "expert-parallel", "launch", "weight-dtype", "expert-dtype"})
      if (!vm[o].defaulted()) throw InputError(fmt::format("--{}: with --batch every query comes from the batch file", o));
    return run_batch(models, vm["batch"].as<std::string>());
  }
  LayerQuery q;
  q.from_flags = true;
  q.model = vm["model"].as<std::string>();
  q.phase = vm["phase"].as<std::string>();
  q.tokens = vm["tokens"].as<int64_t>();
  q.sequence_length = vm["sequence-length"].as<int64_t>();
  q.context = vm["context"].as<int64_t>();
  q.tp = vm["tp"].as<int64_t>();
  q.expert_parallel = vm["expert-parallel"].as<int64_t>();
  q.launch = vm["launch"].as<std::string>();
  q.weight_dtype = vm["weight-dtype"].as<std::string>();
  q.expert_dtype = vm["expert-dtype"].as<std::string>();
  if (vm.count("counts")) q.counts = parse_counts(vm["counts"].as<std::string>(), "--counts"), q.counts_given = true;
  std::map<std::string, ModelConfig> cache;
  fmt::print("{}\n", answer(models, cache, q).dump());
  return 0;
}

}  // namespace moesim::cli
