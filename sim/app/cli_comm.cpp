// `moesim comm a2a`: one MoE dispatch + combine on a topology, the way DeepEP's benchmarks run
// theirs (tokens per GPU routed top-k, optionally group-limited; E experts contiguous over the
// EP ranks), printed as JSON with DeepEP's bottleneck bandwidth. See docs/comm-validation.md.
// GCC 12 reports a false "may be used uninitialized" inside Boost.Graph's adjacency_list copy
// (instantiated by the Topology assignment below); the pragma must precede the Boost headers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <sys/resource.h>

#include <cmath>
#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "sim/app/cli.h"
#include "sim/app/cli_options.h"
#include "sim/app/data_paths.h"
#include "sim/app/experiment_config.h"
#include "sim/io/json_reader.h"
#include "sim/io/units.h"
#include "sim/moe/counter_rng.h"
#include "sim/moe/expert_sampler.h"
#include "sim/moe/routing_source.h"
#include "sim/network/a2a.h"
#include "sim/network/a2a_bench.h"
#include "sim/network/topology_registry.h"

namespace po = boost::program_options;

namespace moesim::cli {
namespace {

constexpr const char* kUsage = "usage: moesim comm a2a --hardware NAME --ep N --gpus-per-node G --tokens T --hidden H --experts E --topk K [options]";

int usage_error(const std::string& msg) {
  fmt::print(stderr, "moesim comm: error: {}\n", msg);
  return 2;
}

Json link_json(const Topology& topo, const CollectiveResult& r) {
  Json j = {{"us", r.duration.us()},
            {"bytes_intra_node", r.bytes_intra_node},
            {"bytes_inter_node", r.bytes_inter_node},
            {"bytes_staged", r.bytes_staged},
            {"max_link_utilization", r.max_link_utilization},
            {"flows", r.flows},
            {"rate_updates", r.rate_updates}};
  if (r.bottleneck_link >= 0) {
    const auto& l = topo.link(r.bottleneck_link);
    j["bottleneck_link"] = l.name;
    j["bottleneck_domain"] = l.domain == LinkDomain::ScaleUp ? "nvlink" : "rdma";
  }
  return j;
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
      ("algorithm", po::value<std::string>(), "all-to-all algorithm (overrides --mode): pairwise, deepep-normal, hccl-hierarchical, deepep-low-latency")
      ("dispatch-dtype", po::value<std::string>()->default_value("fp8"), "fp8 (with one fp32 scale per 128 values) | bf16")
      ("combine-dtype", po::value<std::string>()->default_value("bf16"), "bf16 | fp8")
      ("routing", po::value<std::string>()->default_value("uniform"), "uniform | zipf:S (sampled top-k, group-limited by group mass) | deepep-bench (DeepEP's test gate: i.i.d. scores, groups ranked by best score)")
      ("seed", po::value<uint64_t>()->default_value(1), "routing seed")
      ("network", po::value<std::string>()->default_value("bottleneck"), "bottleneck | flow")
      ("topology", po::value<std::string>(), "generator (default: hccs-mesh-roce for HCCS hardware, else nvswitch-fat-tree)")
      ("nics-per-node", po::value<int64_t>(), "NICs per node (default one per GPU)")
      ("oversubscription", po::value<double>()->default_value(1.0), "leaf downlink:uplink ratio (rail-fat-tree, fat-tree)")
      ("spines", po::value<int64_t>()->default_value(0), "spine switches (0 = one per leaf)")
      ("nodes-per-leaf", po::value<int64_t>()->default_value(0), "nodes under one leaf (0 = generator default)")
      ("tolerance", po::value<double>()->default_value(1e-3), "flow model: relative completion batching (0 = exact)")
      ("collective-latency", po::value<std::string>(), "fixed software latency per collective (default: the profile's; \"0 us\" for kernel time only, as DeepEP's profiler measures)");
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

  const std::string hw_name = vm["hardware"].as<std::string>();
  const HardwareProfile hw = load_hardware_file(resolve_data_file(hw_name, "hw_profiles", ""));
  const int64_t EP = vm["ep"].as<int64_t>(), G = vm["gpus-per-node"].as<int64_t>();
  const int64_t T = vm["tokens"].as<int64_t>(), H = vm["hidden"].as<int64_t>();
  const int64_t E = vm["experts"].as<int64_t>(), K = vm["topk"].as<int64_t>();
  if (EP < 1 || G < 1 || T < 1 || H < 1 || E < 1 || K < 1 || K > E) return usage_error("--ep, --gpus-per-node, --tokens, --hidden, --experts must be positive and 1 <= --topk <= --experts");
  const int64_t groups = vm.count("groups") ? vm["groups"].as<int64_t>() : 1;
  const int64_t topk_groups = vm.count("topk-groups") ? vm["topk-groups"].as<int64_t>() : groups;
  if (vm.count("topk-groups") && !vm.count("groups")) return usage_error("--topk-groups needs --groups");

  TopologySpec spec;
  spec.generator = vm.count("topology") ? vm["topology"].as<std::string>() : hw.intra_node.fabric == "hccs" ? "hccs-mesh-roce" : "nvswitch-fat-tree";
  spec.devices_per_node = G;
  spec.nodes = vm.count("nodes") ? vm["nodes"].as<int64_t>() : std::max<int64_t>(1, (EP + G - 1) / G);
  spec.nics_per_node = vm.count("nics-per-node") ? vm["nics-per-node"].as<int64_t>() : 0;
  spec.oversubscription = vm["oversubscription"].as<double>();
  spec.spines = vm["spines"].as<int64_t>();
  spec.nodes_per_leaf = vm["nodes-per-leaf"].as<int64_t>();
  if (!topology_registry().find(spec.generator))
    return usage_error(fmt::format("unknown topology \"{}\"; did you mean \"{}\"?", spec.generator, closest(spec.generator, topology_registry().names())));

  A2aBenchConfig cfg;
  cfg.expert_parallel = EP;
  cfg.tokens_per_device = T;
  cfg.experts = E;
  cfg.top_k = K;
  const std::string mode = vm["mode"].as<std::string>();
  if (mode != "normal" && mode != "low-latency") return usage_error("--mode must be normal or low-latency");
  cfg.algorithm = vm.count("algorithm") ? vm["algorithm"].as<std::string>()
                  : mode == "low-latency"       ? "deepep-low-latency"
                  : hw.intra_node.fabric == "hccs" ? "hccl-hierarchical"
                                                   : "deepep-normal";
  if (!a2a_registry().find(cfg.algorithm))
    return usage_error(fmt::format("unknown algorithm \"{}\"; did you mean \"{}\"?", cfg.algorithm, closest(cfg.algorithm, a2a_registry().names())));
  const auto network = parse_network_model(vm["network"].as<std::string>());
  if (!network) return usage_error("--network must be bottleneck or flow");
  cfg.network = *network;
  cfg.flow.completion_tolerance = vm["tolerance"].as<double>();
  cfg.fixed_latency = hw.collective_latency;
  if (vm.count("collective-latency")) {
    try {
      cfg.fixed_latency = SimTime::from_seconds(units::parse_duration_seconds(vm["collective-latency"].as<std::string>()));
    } catch (const std::exception& e) {
      return usage_error(std::string("--collective-latency: ") + e.what());
    }
  }

  // Bytes: the hidden vector in its dtype, one fp32 scale per 128 values for FP8 (DeepEP counts
  // these); normal dispatch also carries int32 ids + fp32 weights per top-k entry (as moesim's
  // memory model does), low-latency messages a 16-byte header (DeepEP's num_fp8_bytes).
  const std::string ddt = vm["dispatch-dtype"].as<std::string>(), cdt = vm["combine-dtype"].as<std::string>();
  for (const auto& dt : {ddt, cdt})
    if (dt != "fp8" && dt != "bf16") return usage_error("dtypes must be fp8 or bf16");
  const double Hd = static_cast<double>(H);
  const double hidden_dispatch = Hd * dtype_bytes(ddt) + (ddt == "fp8" ? std::ceil(Hd / 128.0) * 4.0 : 0.0);
  const bool ll = cfg.algorithm == "deepep-low-latency";
  cfg.dispatch_counted_bytes = hidden_dispatch + (ll ? 16.0 : 0.0);
  cfg.dispatch_bytes = cfg.dispatch_counted_bytes + (ll ? 0.0 : static_cast<double>(K) * 8.0);
  cfg.combine_counted_bytes = cfg.combine_bytes = Hd * dtype_bytes(cdt) + (cdt == "fp8" ? std::ceil(Hd / 128.0) * 4.0 : 0.0);

  // Routing: per-device counter-based streams; uniform or Zipf popularity; group-limited if asked.
  const std::string routing = vm["routing"].as<std::string>();
  const uint64_t seed = vm["seed"].as<uint64_t>();
  std::vector<double> weights(static_cast<size_t>(E), 1.0);
  TokenRouter router;
  if (routing == "deepep-bench") {
    try {
      router = deepep_bench_router(E, K, groups, topk_groups, seed);
    } catch (const std::invalid_argument& e) {
      return usage_error(e.what());
    }
  } else if (routing.rfind("zipf:", 0) == 0) {
    double s = 0;
    try {
      s = std::stod(routing.substr(5));
    } catch (const std::exception&) {
      return usage_error("--routing zipf:S needs a number S");
    }
    weights = zipf_weights(E, s, seed, 0);
  } else if (routing != "uniform") {
    return usage_error("--routing must be uniform, zipf:S or deepep-bench");
  }
  std::shared_ptr<ExpertSampler> sampler;
  if (!router) {
    try {
      sampler = std::make_shared<ExpertSampler>(weights, static_cast<int>(K), static_cast<int>(groups), static_cast<int>(topk_groups));
    } catch (const std::invalid_argument& e) {
      return usage_error(std::string(e.what()) + " (check --experts, --topk, --groups, --topk-groups)");
    }
    router = [sampler, seed, K](int64_t device, int64_t tokens, std::vector<int32_t>& ids) {
      CounterRng rng(seed, 0xC0AA, static_cast<uint64_t>(device));
      for (int64_t t = 0; t < tokens; ++t) sampler->sample(rng, ids.data() + t * K);
    };
  }

  Topology topo;
  try {
    topo = Topology::build(spec, hw);
    topo.freeze();
  } catch (const std::invalid_argument& e) {
    return usage_error(e.what());
  }
  A2aBenchResult r;
  try {
    r = run_a2a_bench(topo, cfg, router);
  } catch (const std::invalid_argument& e) {
    return usage_error(e.what());
  }
  Json out = {{"hardware", hw.name},
              {"topology", spec.generator},
              {"nodes", spec.nodes},
              {"devices", topo.devices()},
              {"ep", EP},
              {"algorithm", cfg.algorithm},
              {"network_model", network_model_name(cfg.network)},
              {"tokens_per_device", T},
              {"dispatch_bytes_per_token", cfg.dispatch_bytes},
              {"combine_bytes_per_token", cfg.combine_bytes},
              {"nodes_per_token", r.nodes_per_token},
              {"devices_per_token", r.devices_per_token},
              {"dispatch_us", r.dispatch.net.duration.us()},
              {"combine_us", r.combine.net.duration.us()},
              {"dispatch_GBps", r.dispatch.GBps},
              {"combine_GBps", r.combine.GBps},
              {"GBps_domain", r.counted_domain},
              {"dispatch", link_json(topo, r.dispatch.net)},
              {"combine", link_json(topo, r.combine.net)}};
  std::cout << out.dump(1) << "\n";
  if (vm.count("stats")) {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    fmt::print(stderr, "routing_s={:.3f} dispatch_model_s={:.3f} combine_model_s={:.3f} flows={} rate_updates={} peak_rss_mib={:.1f}\n", r.routing_seconds,
               r.dispatch.model_seconds, r.combine.model_seconds, r.dispatch.net.flows + r.combine.net.flows,
               r.dispatch.net.rate_updates + r.combine.net.rate_updates, static_cast<double>(ru.ru_maxrss) / 1024.0);
  }
  return 0;
}

}  // namespace moesim::cli
