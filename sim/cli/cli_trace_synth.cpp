// `moesim trace synth`: writes a per-token trace drawn from an experiment's routing source
// (uniform, Zipf, or per-token draws from real per-layer counts, group-limited where the model
// is), so that synthetic routing can be inspected with `trace stats` or replayed like a recording.
#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "sim/cli/cli.h"
#include "sim/cli/cli_options.h"
#include "sim/scenario/experiment_config.h"
#include "sim/io/routing_trace.h"
#include "sim/moe/routing_source.h"

namespace po = boost::program_options;

namespace moesim::cli {

int trace_synth(const std::vector<std::string>& args) {
  po::options_description opts("moesim trace synth EXPERIMENT.json --tokens N --out OUT.npz [options]");
  opts.add_options()("help,h", "show this help")("tokens", po::value<int64_t>()->default_value(65536), "tokens per MoE layer")(
      "out,o", po::value<std::string>(), "the trace to write (.npz)")(
      "set", po::value<std::vector<std::string>>()->composing(), "override a field of the experiment (repeatable)");
  po::variables_map vm;
  if (!parse_options("trace synth", args, opts, "experiment", vm)) return 2;
  if (vm.count("help")) {
    std::cout << opts << "\nDraws the experiment's routing (routing.source synthetic or counts) for every MoE layer.\n";
    return 0;
  }
  if (!vm.count("experiment") || !vm.count("out")) {
    fmt::print(stderr, "moesim: error: trace synth: usage: moesim trace synth EXPERIMENT.json --tokens N --out OUT.npz\n");
    return 2;
  }
  const int64_t tokens = vm["tokens"].as<int64_t>();
  if (tokens < 1 || tokens > (INT64_C(1) << 26)) throw InputError(fmt::format("--tokens: expected 1 to {}, got {}", INT64_C(1) << 26, tokens));
  const auto overrides = vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
  const auto cfg = load_experiment(vm["experiment"].as<std::string>(), overrides);
  const auto source = make_routing_source(cfg.routing, routing_inputs(cfg));
  TraceData data;
  data.header.model = cfg.model.name;
  data.header.num_experts = cfg.model.moe.num_experts;
  data.header.top_k = cfg.model.moe.top_k;
  data.header.tokens = tokens;
  data.header.source = "moesim trace synth from " + cfg.file + ": " + source->summary().dump();
  RoutingBatch batch;
  batch.top_k = static_cast<int>(cfg.model.moe.top_k);
  for (int64_t l = 0; l < cfg.model.num_layers; ++l) {
    if (!cfg.model.layer_is_moe[l]) continue;
    source->fill(l, 0, 0, tokens, batch);
    data.header.layers.push_back(l);
    data.ids.insert(data.ids.end(), batch.experts.begin(), batch.experts.end());
  }
  write_routing_trace(vm["out"].as<std::string>(), data);
  fmt::print("wrote {}: {} layers x {} tokens x top-{} of {} experts\n", vm["out"].as<std::string>(), data.header.layers.size(), tokens,
             data.header.top_k, data.header.num_experts);
  return 0;
}

}  // namespace moesim::cli
