// `moesim comm a2a`: one MoE dispatch + combine on a topology, the way DeepEP's benchmarks run
// theirs, through the same scenario and layer planner as `moesim run` (sim/scenario/a2a_scenario.h),
// printed as JSON with DeepEP's bottleneck bandwidth. See docs/comm-validation.md.
#include <sys/resource.h>

#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "sim/cli/cli.h"
#include "sim/cli/cli_options.h"
#include "sim/io/errors.h"
#include "sim/scenario/a2a_scenario.h"

namespace po = boost::program_options;

namespace moesim::cli {
namespace {

constexpr const char* kUsage = "usage: moesim comm a2a --hardware NAME --ep N --gpus-per-node G --tokens T --hidden H --experts E --topk K [options]";

int usage_error(const std::string& msg) {
  fmt::print(stderr, "moesim: error: comm: {}\n", msg);
  return 2;
}

template <typename T>
std::optional<T> given(const po::variables_map& vm, const char* key) {
  return vm.count(key) ? std::optional<T>(vm[key].as<T>()) : std::nullopt;
}

// --routing uniform | zipf:S | deepep-bench
bool parse_routing(const std::string& routing, CommA2aRequest& r) {
  if (routing == "uniform" || routing == "deepep-bench") {
    r.distribution = routing;
    return true;
  }
  if (routing.rfind("zipf:", 0) != 0) return false;
  try {
    size_t used = 0;
    r.zipf_exponent = std::stod(routing.substr(5), &used);
    r.distribution = "zipf";
    return used == routing.size() - 5;
  } catch (const std::exception&) {
    return false;
  }
}

CommA2aRequest request_of(const po::variables_map& vm) {
  CommA2aRequest r;
  r.hardware = vm["hardware"].as<std::string>();
  r.expert_parallel = vm["ep"].as<int64_t>();
  r.devices_per_node = vm["gpus-per-node"].as<int64_t>();
  r.nodes = given<int64_t>(vm, "nodes").value_or(0);
  r.tokens_per_device = vm["tokens"].as<int64_t>();
  r.hidden = vm["hidden"].as<int64_t>();
  r.experts = vm["experts"].as<int64_t>();
  r.top_k = vm["topk"].as<int64_t>();
  r.groups = given<int64_t>(vm, "groups").value_or(1);
  r.topk_groups = given<int64_t>(vm, "topk-groups").value_or(0);
  r.algorithm = given<std::string>(vm, "algorithm").value_or(vm["mode"].as<std::string>() == "low-latency" ? "deepep-low-latency" : "auto");
  r.dispatch_dtype = vm["dispatch-dtype"].as<std::string>();
  r.combine_dtype = vm["combine-dtype"].as<std::string>();
  r.seed = seed_from_flag(vm["seed"].as<int64_t>());
  r.network_model = vm["network"].as<std::string>();
  r.flow_tolerance = vm["tolerance"].as<double>();
  r.topology = given<std::string>(vm, "topology");
  r.nics_per_node = given<int64_t>(vm, "nics-per-node");
  r.oversubscription = given<double>(vm, "oversubscription");
  r.spines = given<int64_t>(vm, "spines");
  r.nodes_per_leaf = given<int64_t>(vm, "nodes-per-leaf");
  r.collective_latency = given<std::string>(vm, "collective-latency");
  r.sms = given<int64_t>(vm, "sms");
  return r;
}

}  // namespace

int comm(const std::vector<std::string>& args) {
  po::options_description opts(std::string(kUsage) + "\n\noptions");
  opts.add_options()("help,h", "show this help")
      ("hardware", po::value<std::string>(), "hardware profile: a bundled name (H800) or a path")
      ("ep", po::value<int64_t>(), "expert-parallel group size (groups are contiguous GPUs)")
      ("gpus-per-node", po::value<int64_t>()->default_value(8), "devices per node")
      ("nodes", po::value<int64_t>(), "nodes (default: enough for one EP group)")
      ("tokens", po::value<int64_t>(), "tokens per GPU")
      ("hidden", po::value<int64_t>(), "hidden size")
      ("experts", po::value<int64_t>(), "routed experts")
      ("topk", po::value<int64_t>(), "experts per token")
      ("groups", po::value<int64_t>(), "expert groups for group-limited routing")
      ("topk-groups", po::value<int64_t>(), "groups each token may use")
      ("mode", po::value<std::string>()->default_value("normal"), "normal | low-latency")
      ("algorithm", po::value<std::string>(), "all-to-all algorithm (overrides --mode; moesim list a2a)")
      ("dispatch-dtype", po::value<std::string>()->default_value("fp8"), "fp8 (with one fp32 scale per 128 values) | bf16")
      ("combine-dtype", po::value<std::string>()->default_value("bf16"), "bf16 | fp8")
      ("routing", po::value<std::string>()->default_value("uniform"), "uniform | zipf:S (sampled top-k, group-limited by group mass) | deepep-bench (DeepEP's test gate: i.i.d. scores, groups ranked by best score)")
      ("seed", po::value<int64_t>()->default_value(1), "routing seed (0 to 2^53)")
      ("network", po::value<std::string>()->default_value("bottleneck"), "bottleneck | flow")
      ("topology", po::value<std::string>(), "generator (moesim list topologies; default: the one for the hardware's scale-up fabric, as in `moesim run`)")
      ("nics-per-node", po::value<int64_t>(), "NICs per node (default one per GPU)")
      ("oversubscription", po::value<double>(), "leaf downlink:uplink ratio (rail-fat-tree, fat-tree; default 1)")
      ("spines", po::value<int64_t>(), "spine switches (rail-fat-tree, fat-tree; default one per leaf)")
      ("nodes-per-leaf", po::value<int64_t>(), "nodes under one leaf (rail-fat-tree, fat-tree; default: the generator's)")
      ("tolerance", po::value<double>()->default_value(1e-3), "flow model: relative completion batching (0 = exact)")
      ("sms", po::value<int64_t>(), "SMs a DeepEP normal kernel is given (Buffer.set_num_sms; default 24, as schedule.comm_compute_units in run)")
      ("collective-latency", po::value<std::string>(), "fixed time of each dispatch and combine call (default: DeepEP kernels' measured floor, "
                                                        "else the profile's collective_latency; \"0 us\": the data movement alone)");
  po::options_description hidden;
  hidden.add_options()("stats", "print wall times, flows and peak RSS to stderr");
  po::variables_map vm;
  if (!parse_options("comm", args, opts, "what", vm, &hidden)) return 2;
  if (vm.count("help")) {
    std::cout << opts << "\nPrints JSON: dispatch_us, combine_us, dispatch_GBps, combine_GBps (DeepEP's bottleneck bandwidth:\n"
                         "bytes counted in the bottleneck domain per rank / kernel time) and the domain.\n";
    return 0;
  }
  if (!vm.count("what") || vm["what"].as<std::string>() != "a2a") return usage_error(kUsage);
  for (const char* req : {"hardware", "ep", "tokens", "hidden", "experts", "topk"})
    if (!vm.count(req)) return usage_error(fmt::format("--{} is required; {}", req, kUsage));

  for (const char* flag : {"ep", "gpus-per-node", "tokens", "hidden", "experts", "topk"})
    if (vm[flag].as<int64_t>() < 1) return usage_error(fmt::format("--{}: expected a positive integer, got {}", flag, vm[flag].as<int64_t>()));
  if (vm.count("nodes") && vm["nodes"].as<int64_t>() < 1)
    return usage_error(fmt::format("--nodes: expected a positive integer, got {}", vm["nodes"].as<int64_t>()));
  if (vm["topk"].as<int64_t>() > vm["experts"].as<int64_t>())
    return usage_error(fmt::format("--topk: expected at most --experts ({}), got {}", vm["experts"].as<int64_t>(), vm["topk"].as<int64_t>()));
  if (!vm["tolerance"].defaulted() && vm["network"].as<std::string>() != "flow")
    return usage_error(fmt::format("--tolerance: has no effect with --network {} (it batches the flow model's completions)", vm["network"].as<std::string>()));
  if (vm.count("topk-groups") && !vm.count("groups")) return usage_error("--topk-groups needs --groups");
  if (vm.count("groups") && (!vm.count("topk-groups") || vm["topk-groups"].as<int64_t>() >= vm["groups"].as<int64_t>()))
    return usage_error("--groups: has no effect without --topk-groups below it (a token may use every group); give both, or neither");
  if (vm.count("algorithm") && !vm["mode"].defaulted()) return usage_error("--mode: has no effect with --algorithm, which names the kernels");
  const std::string mode = vm["mode"].as<std::string>();
  if (mode != "normal" && mode != "low-latency") return usage_error("--mode must be normal or low-latency");
  CommA2aRequest request = request_of(vm);
  if (!parse_routing(vm["routing"].as<std::string>(), request)) return usage_error("--routing must be uniform, zipf:S or deepep-bench");
  const CommA2aResult r = run_comm_a2a(request);
  std::cout << r.report.dump(1) << "\n";
  if (vm.count("stats")) {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    fmt::print(stderr, "layer_s={:.3f} flows={} rate_updates={} peak_rss_mib={:.1f}\n", r.wall_s, r.flows, r.rate_updates, static_cast<double>(ru.ru_maxrss) / 1024.0);
  }
  return 0;
}

}  // namespace moesim::cli
