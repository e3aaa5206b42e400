#include "sim/scenario/a2a_scenario.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "sim/io/units.h"
#include "sim/network/a2a_bench.h"
#include "sim/scenario/layer_pass.h"
#include "sim/scenario/scenario.h"

namespace moesim {
namespace {

constexpr const char* kFile = "moesim comm a2a";

Json cluster_json(const CommA2aRequest& r) {
  const int64_t nodes = r.nodes > 0 ? r.nodes : std::max<int64_t>(1, (r.expert_parallel + r.devices_per_node - 1) / r.devices_per_node);
  Json c = {{"nodes", nodes}, {"devices_per_node", r.devices_per_node}, {"network_model", r.network_model}};
  if (r.network_model == "flow") c["flow_tolerance"] = r.flow_tolerance;
  if (r.topology) c["topology"] = *r.topology;
  if (r.nics_per_node) c["nics_per_node"] = *r.nics_per_node;
  if (r.oversubscription) c["oversubscription"] = *r.oversubscription;
  if (r.spines) c["spines"] = *r.spines;
  if (r.nodes_per_leaf) c["nodes_per_leaf"] = *r.nodes_per_leaf;
  return c;
}

Json link_json(const Topology& topo, const CollectiveResult& r) {
  Json j = {{"us", r.duration.us()},
            {"bytes_intra_node", r.bytes_intra_node},
            {"bytes_inter_node", r.bytes_inter_node},
            {"bytes_staged", r.bytes_staged},
            {"max_link_utilization", r.max_link_utilization},
            {"flows", r.flows},
            {"rate_updates", r.rate_updates}};
  j["max_wire_utilization"] = r.max_wire_utilization;
  if (r.bottleneck_link >= 0) {
    j["bottleneck_link"] = r.bottleneck_name;
    if (r.bottleneck_is_kernel) j["bottleneck_domain"] = "kernel";
    else j["bottleneck_domain"] = topo.link(r.bottleneck_link).domain == LinkDomain::ScaleUp ? "nvlink" : "rdma";
  }
  return j;
}

// DeepEP's counted figure against what crossed the wires: the counted bytes may exceed the real
// ones (a token's copy to its own node or device is counted), never the wires' capacity.
Json invariants_json(const Scenario& sc, const DeepEpCounted& counted, const MoePass& p) {
  const double D = static_cast<double>(sc.config().cluster.devices());
  // The real bytes of the counted units: every message for the low-latency kernels (own ones are
  // staged copies), the bytes crossing nodes for RDMA counts, the node's bytes for NVLink counts.
  const bool messages = sc.a2a().traits.deepep_count == DeepEpCount::Messages;
  auto real_per_device = [&](const CollectiveResult& r) {
    if (messages) return (r.bytes_total + r.bytes_staged) / D;
    return (counted.domain == "rdma" ? r.bytes_inter_node : r.bytes_intra_node + r.bytes_staged) / D;
  };
  const double counted_dispatch = counted.units_per_device * sc.a2a_bytes().dispatch_counted;
  const double real_dispatch = real_per_device(p.dispatch_net);
  const double wire = std::max(p.dispatch_net.max_wire_utilization, p.combine_net.max_wire_utilization);
  return {{"max_wire_utilization", wire},
          {"no_wire_above_100_percent", wire <= 1.0 + 1e-9},
          {"dispatch_counted_over_real_bytes", real_dispatch > 0 ? counted_dispatch / real_dispatch : 0.0}};
}

// The experiment is built from flags: an error at one of its JSON paths is said of the flag that
// set it ("--tokens: expected ..." rather than "$.workload.tokens_per_device: expected ...").
InputError as_flag_error(const InputError& e) {
  static const std::pair<const char*, const char*> kFlags[] = {
      {"$.workload.tokens_per_device", "--tokens"}, {"$.workload.sequence_length", "--tokens"},
      {"$.cluster.nodes_per_leaf", "--nodes-per-leaf"}, {"$.cluster.nodes", "--nodes"},
      {"$.cluster.devices_per_node", "--gpus-per-node"}, {"$.cluster.nics_per_node", "--nics-per-node"},
      {"$.cluster.oversubscription", "--oversubscription"}, {"$.cluster.spines", "--spines"},
      {"$.cluster.topology", "--topology"}, {"$.cluster.flow_tolerance", "--tolerance"},
      {"$.cluster.network_model", "--network"}, {"$.parallel.expert_parallel", "--ep"},
      {"$.routing.seed", "--seed"}, {"$.routing.distribution", "--routing"}, {"$.routing.zipf_exponent", "--routing"},
      {"$.moe.dispatch_dtype", "--dispatch-dtype"}, {"$.moe.combine_dtype", "--combine-dtype"}, {"$.moe.all_to_all", "--algorithm"},
      {"$.model.hidden_size", "--hidden"}, {"$.model.moe.num_experts", "--experts"}, {"$.model.moe.top_k", "--topk"},
      {"$.model.moe.num_groups", "--groups"}, {"$.model.moe.topk_groups", "--topk-groups"}, {"$.model.moe", "--experts, --topk, --groups"},
      {"$.hardware", "--hardware"}, {"$.parallel", "--experts, --ep"}, {"$.cluster", "--nodes, --gpus-per-node, --nics-per-node"}};
  const std::string what = e.what(), prefix = std::string(kFile) + ": ";
  if (what.rfind(prefix, 0) != 0) return e;
  const std::string rest = what.substr(prefix.size());
  for (const auto& [path, flag] : kFlags) {
    const std::string p = std::string(path) + ": ";
    if (rest.rfind(p, 0) == 0) return InputError(std::string(flag) + ": " + rest.substr(p.size()));
  }
  return e;
}

}  // namespace

Json comm_a2a_experiment(const CommA2aRequest& r) {
  // Attention, vocabulary and expert width do not enter one all-to-all: the smallest valid ones.
  const Json model = {{"name", "comm-a2a"}, {"hidden_size", r.hidden}, {"num_layers", 1}, {"vocab_size", 1},
                      {"attention", {{"type", "mha"}, {"num_heads", 1}, {"head_dim", 1}}},
                      {"moe", {{"num_experts", r.experts}, {"top_k", r.top_k}, {"expert_intermediate_size", 1}, {"num_groups", r.groups},
                               {"topk_groups", r.topk_groups > 0 ? r.topk_groups : r.groups}}}};
  Json routing = {{"source", "synthetic"}, {"distribution", r.distribution}, {"seed", r.seed}};
  if (r.topk_groups > 0 && r.topk_groups < r.groups) routing["group_limited"] = true;
  if (r.distribution == "zipf") routing["zipf_exponent"] = r.zipf_exponent;
  return {{"name", "comm-a2a"},
          {"model", model},
          {"hardware", r.hardware},
          {"cluster", cluster_json(r)},
          {"parallel", {{"expert_parallel", r.expert_parallel}}},
          {"workload", {{"phase", "prefill"}, {"tokens_per_device", r.tokens_per_device}, {"sequence_length", r.tokens_per_device}}},
          {"routing", routing},
          {"moe", {{"dispatch_dtype", r.dispatch_dtype}, {"combine_dtype", r.combine_dtype}, {"all_to_all", r.algorithm}}},
          // One collective with nothing beside it: no compute units are taken from overlapped compute.
          {"schedule", {{"overlap", "none"}, {"comm_compute_units", 0}}},
          {"compute", {{"expert_backend", "roofline"}}}};
}

CommA2aResult run_comm_a2a(const CommA2aRequest& r) {
  ExperimentConfig cfg;
  try {
    cfg = parse_experiment(JsonDocument::from_json(comm_a2a_experiment(r), kFile));
  } catch (const InputError& e) {
    throw as_flag_error(e);
  }
  if (r.collective_latency) {
    try {
      cfg.moe.all_to_all_latency = SimTime::from_seconds(units::parse_duration_seconds(*r.collective_latency));
    } catch (const std::exception& e) {
      throw input_error(kFile, "--collective-latency", e.what());
    }
    if (cfg.moe.all_to_all_latency->ps() < 0) throw input_error(kFile, "--collective-latency", "must not be negative");
    if (*cfg.moe.all_to_all_latency > SimTime::from_seconds(kMaxLatency_s))
      throw input_error(kFile, "--collective-latency", "expected a latency of at most 1 s");
    cfg.hardware.collective_latency = *cfg.moe.all_to_all_latency;
  }
  if (r.sms) {
    if (*r.sms < 2 || *r.sms >= cfg.hardware.compute_units)
      throw input_error(kFile, "--sms", fmt::format("must be at least 2 and below the device's {} SMs", cfg.hardware.compute_units));
    if (*r.sms % 2 != 0) throw input_error(kFile, "--sms", "DeepEP's normal kernels run one channel per 2 SMs: give an even number");
    cfg.schedule.comm_compute_units = *r.sms;
  }
  Scenario sc(std::move(cfg));
  if (r.sms && sc.a2a().traits.kernel != A2aKernel::DeepEpNormal)
    throw input_error(kFile, "--sms", fmt::format("sets the SMs of DeepEP's normal kernels; {} does not take it", sc.a2a().name));
  sc.freeze();
  const auto t0 = std::chrono::steady_clock::now();
  MoeLayerPlanner planner(sc);
  std::vector<MoePass> passes;
  MoeLayerStats stats;
  planner.plan(0, passes, stats);
  CommA2aResult out;
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const MoePass& p = passes[0];
  const auto& c = sc.config();
  auto counted = deepep_counted_units(planner.last_dispatch().traffic, sc.a2a().traits.deepep_count, r.expert_parallel, r.tokens_per_device);
  // Low-latency messages inside one node ride NVLink (all but the pure-RDMA variant).
  if (sc.a2a().traits.deepep_count == DeepEpCount::Messages && !sc.a2a().traits.rdma_only && r.expert_parallel <= r.devices_per_node)
    counted.domain = "nvlink";
  out.flows = p.dispatch_net.flows + p.combine_net.flows;
  out.rate_updates = p.dispatch_net.rate_updates + p.combine_net.rate_updates;
  out.report = {{"hardware", c.hardware.name},
                {"topology", c.cluster.topology.generator},
                {"nodes", c.cluster.topology.nodes},
                {"devices", c.cluster.devices()},
                {"ep", r.expert_parallel},
                {"algorithm", sc.a2a().name},
                {"network_model", network_model_name(c.cluster.network_model)},
                {"tokens_per_device", r.tokens_per_device},
                {"dispatch_bytes_per_token", sc.a2a_bytes().dispatch},
                {"combine_bytes_per_token", sc.a2a_bytes().combine},
                {"nodes_per_token", counted.nodes_per_token},
                {"devices_per_token", counted.devices_per_token},
                {"dispatch_us", p.dispatch.us()},
                {"combine_us", p.combine.us()},
                {"dispatch_GBps", deepep_GBps(counted, sc.a2a_bytes().dispatch_counted, p.dispatch.seconds())},
                {"combine_GBps", deepep_GBps(counted, sc.a2a_bytes().combine_counted, p.combine.seconds())},
                {"GBps_domain", counted.domain},
                {"kernel_sms", sc.a2a_kernel() ? Json(sc.a2a().traits.kernel == A2aKernel::DeepEpLowLatency ? low_latency_sms(*sc.a2a_kernel()) : sc.a2a_kernel()->sms) : Json()},
                {"dispatch_fixed_us", p.dispatch_net.fixed_latency.us()},
                {"combine_fixed_us", p.combine_net.fixed_latency.us()},
                {"dispatch", link_json(sc.topology(), p.dispatch_net)},
                {"combine", link_json(sc.topology(), p.combine_net)}};
  out.report["invariants"] = invariants_json(sc, counted, p);
  return out;
}

}  // namespace moesim
