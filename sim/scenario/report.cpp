// report.json: the step analysis (step_analysis.h) serialised; the fields and their units are in
// sim/io/report.schema.json.
#include <cmath>

#include "sim/scenario/simulation.h"

namespace moesim {
namespace {

double us_of_ps(int64_t ps) { return static_cast<double>(ps) / 1e6; }
double us(SimTime t) { return us_of_ps(t.ps()); }

Json layer_json(const ExperimentConfig& c, const StageLayout& st, int64_t l, const LayerAnalysis& la, const MoeLayerStats& s) {
  const OpKindTimes& t = la.times;
  const bool moe = c.model.layer_is_moe[l];
  Json j = {{"layer", l},
            {"type", moe ? "moe" : "dense"},
            {"layer_time_us", us_of_ps(t.attention + t.moe_local + t.dense_ffn + t.shared_expert + t.experts + t.exposed)},
            {"attention_us", us_of_ps(t.attention)},
            {"moe_local_us", us_of_ps(t.moe_local)},
            {"dense_ffn_us", us_of_ps(t.dense_ffn)},
            {"shared_expert_us", us_of_ps(t.shared_expert)},
            {"expert_compute_us", us_of_ps(t.experts)},
            {"expert_compute_max_device_us", us_of_ps(la.experts_max_device_ps)},
            {"dispatch_us", us_of_ps(t.dispatch)},
            {"combine_us", us_of_ps(t.combine)},
            {"exposed_comm_us", us_of_ps(t.exposed)},
            {"stage", st.stage_of_layer[l]}};
  if (!moe) return j;
  if (s.planned_as >= 0) j["planned_as"] = s.planned_as;
  j["expert_load_max_over_mean"] = la.expert_load_max_over_mean;
  j["device_load_max_over_mean"] = la.device_load_max_over_mean;
  j["assignments"] = s.assignments;
  j["tokens_dropped"] = s.dropped;
  j["drop_fraction"] = s.assignments ? static_cast<double>(s.dropped) / static_cast<double>(s.assignments) : 0.0;
  j["capacity_per_expert"] = s.capacity;
  j["nodes_per_token_mean"] = s.routed_tokens ? static_cast<double>(s.token_nodes) / static_cast<double>(s.routed_tokens) : 0.0;
  j["nodes_per_token_max"] = s.max_token_nodes;
  j["dispatch_bytes_intra_node"] = s.dispatch_bytes_intra;
  j["dispatch_bytes_inter_node"] = s.dispatch_bytes_inter;
  j["combine_bytes_intra_node"] = s.combine_bytes_intra;
  j["combine_bytes_inter_node"] = s.combine_bytes_inter;
  j["max_link_utilization"] = s.max_link_utilization;
  j["expert_load"] = s.expert_load;
  j["device_load"] = la.device_load;
  if (c.moe.capacity_factor) j["expert_dropped"] = s.expert_dropped;
  return j;
}

Json breakdown_json(const StepAnalysis& a) {
  return {{"attention", us_of_ps(a.total.attention)},
          {"moe_local", us_of_ps(a.total.moe_local)},
          {"dense_ffn", us_of_ps(a.total.dense_ffn)},
          {"shared_expert", us_of_ps(a.total.shared_expert)},
          {"expert_compute", us_of_ps(a.total.experts)},
          {"dispatch", us_of_ps(a.total.dispatch)},
          {"combine", us_of_ps(a.total.combine)},
          {"exposed_comm", us_of_ps(a.total.exposed + a.other_exposed_ps)},
          {"other_compute", us_of_ps(a.other_compute_ps)},
          {"pipeline_bubble", us(a.pipeline_bubble)}};
}

// The serving engine's pools on the device with the fewest KV tokens, and what they hold: KV
// capacity in tokens and in sequences of the workload's length (decode: context; prefill: sequence).
Json serving_json(const ExperimentConfig& c, const ServingMemory& s, int64_t device) {
  const bool decode = c.workload.phase == WorkloadPhase::Decode;
  const double seq = static_cast<double>(decode ? c.workload.context_length : c.workload.sequence_length);
  return {{"framework", c.runtime.framework == ServingFramework::Sglang ? "sglang" : "vllm"},
          {"device", device},
          {"static_fraction", s.static_fraction},
          {"static_pool_bytes", std::round(s.static_pool_bytes)},
          {"reserved_bytes", std::round(s.reserved_bytes)},
          {"kv_pool_bytes", std::round(s.kv_pool_bytes)},
          {"kv_bytes_per_token", s.kv_bytes_per_token},
          {"kv_capacity_tokens", s.kv_capacity_tokens},
          {"kv_capacity_sequences", std::floor(s.kv_capacity_tokens / seq)},
          {"kv_needed_bytes", std::round(s.kv_needed_bytes)},
          {"dynamic_bytes", std::round(s.dynamic_bytes)},
          {"dynamic_limit_bytes", std::round(s.dynamic_limit_bytes)},
          {"fits", s.fits},
          {"limit", s.limit}};
}

Json hbm_json(const ExperimentConfig& c, const StepAnalysis& a, const std::vector<HbmLedger>& hbm) {
  const double usable = c.hardware.usable_hbm_bytes();
  Json devices = Json::array();
  for (size_t d = 0; d < hbm.size(); ++d) {
    Json j = hbm[d].to_json(usable, c.hardware.hbm_capacity_bytes);
    j["device"] = d;
    devices.push_back(std::move(j));
  }
  Json j = {{"capacity_bytes", c.hardware.hbm_capacity_bytes}, {"usable_bytes", usable},
            {"max_device_total_bytes", std::round(a.hbm_max_bytes)}, {"max_device", a.hbm_max_device}, {"fits", a.hbm_fits},
            {"overflow_bytes", a.hbm_max_bytes > usable ? std::round(a.hbm_max_bytes - usable) : 0.0}, {"devices", devices}};
  if (a.serving) j["serving"] = serving_json(c, *a.serving, a.serving_device);
  return j;
}

// Per op kind, the sources that costed its ops (source -> ops), over every op list of the layer pass.
Json op_sources_json(const DenseCosts& d) {
  Json by_kind = Json::object();
  for (const CostedOps* list : {&d.attention_ops, &d.moe_ops, &d.shared_ops, &d.dense_ffn_ops, &d.lm_head_ops})
    for (const auto& o : list->ops) {
      Json& k = by_kind[layer_op_kind_name(o.kind)];
      if (k.is_null()) k = Json::object();
      const std::string src = o.source + (o.extrapolated ? " (extrapolated)" : "");
      k[src] = k.value(src, 0) + 1;
    }
  return by_kind;
}

Json costed_ops_json(const CostedOps& ops) {
  Json out = Json::array();
  for (const auto& o : ops.ops)
    out.push_back({{"name", o.name}, {"kind", layer_op_kind_name(o.kind)}, {"gpu_us", us(o.gpu)}, {"host_us", us(o.host)},
                   {"source", o.source}, {"extrapolated", o.extrapolated}});
  return out;
}

// One MoE (or dense) layer of the critical device by op kind: the dense ops as costed, the experts,
// dispatch and combine as the mean over the critical stage's layers of that type.
Json layer_ops_json(const Scenario& sc, const LayerPassResult& pass, const StepAnalysis& a) {
  const auto& c = sc.config();
  const DenseCosts& d = pass.dense;
  auto by_kind = [](const std::vector<const CostedOps*>& lists) {
    Json k = Json::object();
    for (const auto* l : lists)
      for (const auto& o : l->ops) k[layer_op_kind_name(o.kind)] = k.value(layer_op_kind_name(o.kind), 0.0) + us(o.gpu);
    return k;
  };
  double experts = 0, dispatch = 0, combine = 0, n = 0;
  for (size_t l = 0; l < a.layers.size(); ++l) {
    if (!c.model.layer_is_moe[l] || sc.stages().stage_of_layer[l] != a.critical_stage) continue;
    experts += us_of_ps(a.layers[l].times.experts), dispatch += us_of_ps(a.layers[l].times.dispatch), combine += us_of_ps(a.layers[l].times.combine);
    ++n;
  }
  Json moe = by_kind({&d.attention_ops, &d.moe_ops, &d.shared_ops});
  if (n > 0) moe["experts"] = experts / n, moe["dispatch"] = dispatch / n, moe["combine"] = combine / n;
  if (d.tp_allreduce.ps() > 0) moe["tp_allreduce"] = us(d.tp_allreduce);
  const bool eager = c.compute.launch_mode == LaunchMode::Eager;
  if (eager) moe["eager_launch"] = us(d.eager_moe_layer);
  Json j = {{"launch_mode", eager ? "eager" : "graph"},
            {"moe_layer_by_kind_us", moe},
            {"attention_ops", costed_ops_json(d.attention_ops)},
            {"moe_ops", costed_ops_json(d.moe_ops)},
            {"shared_expert_ops", costed_ops_json(d.shared_ops)},
            {"lm_head_ops", costed_ops_json(d.lm_head_ops)}};
  if (!d.dense_ffn_ops.ops.empty()) {
    Json dense = by_kind({&d.attention_ops, &d.dense_ffn_ops});
    if (d.tp_allreduce.ps() > 0) dense["tp_allreduce"] = us(d.tp_allreduce);
    if (eager) dense["eager_launch"] = us(d.eager_dense_layer);
    j["dense_layer_by_kind_us"] = dense;
    j["dense_ffn_ops"] = costed_ops_json(d.dense_ffn_ops);
  }
  return j;
}

Json cost_sources_json(const Scenario& sc, const LayerPassResult& pass) {
  const auto& c = sc.config();
  Json expert_sources = Json::object();
  for (const auto& [source, n] : pass.expert_sources) expert_sources[source] = n;
  const auto* table = sc.cost().calibration();
  const auto* ops = sc.cost().op_table();
  return {{"compute", ops ? "measured op table" : "roofline"},
          {"ops", op_sources_json(pass.dense)},
          {"op_table", ops ? Json(ops->hardware + " (" + ops->gpu_name + ", " + ops->date_utc + ")") : Json(nullptr)},
          {"expert_block", expert_sources},
          {"shared_expert", pass.dense.shared_expert_source},
          {"expert_backend", c.compute.expert_backend},
          {"calibration", table ? Json(table->provenance.gpu_name + ", " + table->provenance.date_utc) : Json(nullptr)},
          {"network", network_model_name(c.cluster.network_model)},
          {"all_to_all", sc.a2a().name}};
}

// Device-hours per million tokens of the phase (input tokens for prefill, output tokens for
// decode, trained tokens for training) at the configured price.
Json cost_json(const ExperimentConfig& c, const StepAnalysis& a) {
  const double D = static_cast<double>(c.cluster.devices()), nodes = static_cast<double>(c.cluster.topology.nodes);
  Json cost = {{"tokens_per_s_per_node", a.tokens_per_s / nodes},
               {"token_kind", c.workload.phase == WorkloadPhase::Prefill ? "input" : c.workload.phase == WorkloadPhase::Decode ? "output" : "trained"},
               {"device_hours_per_million_tokens", a.tokens_per_s > 0 ? D * 1e6 / a.tokens_per_s / 3600.0 : 0.0}};
  if (c.cost.price_per_device_hour > 0) {
    cost["price_per_device_hour"] = c.cost.price_per_device_hour;
    cost["price_source"] = c.cost.source;
    cost["cost_per_million_tokens"] = cost["device_hours_per_million_tokens"].get<double>() * c.cost.price_per_device_hour;
  }
  return cost;
}

}  // namespace

Json Simulation::report() const {
  if (!ran_) throw std::logic_error("report before run");
  const auto& sc = *scenario_;
  const auto& c = sc.config();
  const StepAnalysis& a = analysis_;
  Json layers = Json::array();
  for (int64_t l = 0; l < c.model.num_layers; ++l) layers.push_back(layer_json(c, sc.stages(), l, a.layers[l], pass_.layer_stats[l]));
  const double n_moe = static_cast<double>(a.moe_layers);
  Json r;
  r["moesim_version"] = MOESIM_VERSION;
  r["experiment"] = c.resolved;
  r["step_time_us"] = us(a.step_time);
  r["tokens_per_s"] = a.tokens_per_s;
  r["tokens_per_s_per_device"] = a.tokens_per_s / static_cast<double>(c.cluster.devices());
  r["tokens_per_step"] = a.tokens_per_step;
  r["pipeline_bubble_us"] = us(a.pipeline_bubble);
  r["critical_device"] = a.critical_device;
  r["breakdown_us"] = breakdown_json(a);
  r["breakdown_scope"] = sc.stages().stages > 1 ? "the critical device of the slowest pipeline stage (its layers), plus the 1F1B bubble"
                                                 : "the critical device";
  r["all_to_all"] = {{"bytes_intra_node", a.dispatch_bytes_intra + a.combine_bytes_intra},
                     {"bytes_inter_node", a.dispatch_bytes_inter + a.combine_bytes_inter},
                     {"dispatch_bytes_intra_node", a.dispatch_bytes_intra}, {"dispatch_bytes_inter_node", a.dispatch_bytes_inter},
                     {"combine_bytes_intra_node", a.combine_bytes_intra}, {"combine_bytes_inter_node", a.combine_bytes_inter},
                     {"dispatch_bytes_per_token", sc.a2a_bytes().dispatch},
                     {"combine_bytes_per_token", sc.a2a_bytes().combine},
                     {"network_model", network_model_name(c.cluster.network_model)},
                     {"algorithm", sc.a2a().name}};
  r["expert_load"] = {{"load_max_over_mean_mean", a.moe_layers ? a.load_max_over_mean_sum / n_moe : 0.0},
                      {"device_load_max_over_mean", a.moe_layers ? a.device_load_max_over_mean_sum / n_moe : 0.0}};
  r["drops"] = {{"assignments", a.assignments}, {"tokens_dropped", a.dropped},
                {"drop_fraction", a.assignments ? static_cast<double>(a.dropped) / static_cast<double>(a.assignments) : 0.0},
                {"capacity_factor", c.moe.capacity_factor ? Json(*c.moe.capacity_factor) : Json("none")}};
  r["hbm"] = hbm_json(c, a, hbm_);
  r["layers"] = layers;
  r["routing"] = sc.routing().summary();
  r["cost_sources"] = cost_sources_json(sc, pass_);
  r["layer_ops"] = layer_ops_json(sc, pass_, a);
  r["invariants"] = {{"tokens_conserved", a.tokens_conserved}, {"bytes_sent_equal_received", a.bytes_sent_equal_received},
                     {"max_link_utilization", a.max_link_utilization}, {"no_link_above_100_percent", a.max_link_utilization <= 1.0 + 1e-9},
                     {"max_wire_utilization", a.max_wire_utilization},
                     {"hbm_non_negative", a.hbm_non_negative}};
  r["simulation"] = {{"events", stats_.events}, {"ops", stats_.ops}};
  r["cost"] = cost_json(c, a);
  return r;
}

}  // namespace moesim
