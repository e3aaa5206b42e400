// The report of a finished simulation (report.json) and its timeline (Chrome trace events).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "sim/app/simulation.h"

namespace moesim {
namespace {

double us(SimTime t) { return static_cast<double>(t.ps()) / 1e6; }

double max_over_mean(const std::vector<int64_t>& v) {
  if (v.empty()) return 0;
  const double sum = static_cast<double>(std::accumulate(v.begin(), v.end(), int64_t{0}));
  if (sum <= 0) return 0;
  return static_cast<double>(*std::max_element(v.begin(), v.end())) / (sum / static_cast<double>(v.size()));
}

// Length of [s, e) not covered by the sorted, disjoint intervals.
int64_t uncovered(int64_t s, int64_t e, const std::vector<std::pair<int64_t, int64_t>>& busy) {
  int64_t covered = 0;
  auto it = std::lower_bound(busy.begin(), busy.end(), std::make_pair(s, INT64_MIN));
  if (it != busy.begin()) --it;
  for (; it != busy.end() && it->first < e; ++it) covered += std::max<int64_t>(0, std::min(e, it->second) - std::max(s, it->first));
  return (e - s) - covered;
}

}  // namespace

Json Simulation::report() const {
  if (!ran_) throw std::logic_error("report before run");
  const auto& m = cfg_.model;
  const int64_t D = cfg_.cluster.devices(), L = m.num_layers;
  const int32_t n_ops = static_cast<int32_t>(sched_.num_ops());

  // Critical device of each pipeline stage: the one with the most compute busy time (lowest id
  // on ties). The step's critical device is that of the stage that finishes last.
  std::vector<int64_t> busy(D, 0);
  std::vector<int64_t> stage_end(stages_.stages, 0);
  for (int32_t i = 0; i < n_ops; ++i) {
    if (op_info_[i].device >= 0) busy[op_info_[i].device] += sched_.duration(i).ps();
    stage_end[op_info_[i].stage] = std::max(stage_end[op_info_[i].stage], sched_.end(i).ps());
  }
  std::vector<int64_t> crit_of_stage(stages_.stages);
  for (int64_t st = 0; st < stages_.stages; ++st) {
    const auto first = busy.begin() + st * stages_.devices_per_stage;
    crit_of_stage[st] = std::max_element(first, first + stages_.devices_per_stage) - busy.begin();
  }
  const int64_t crit_stage = std::max_element(stage_end.begin(), stage_end.end()) - stage_end.begin();
  const int64_t crit = crit_of_stage[crit_stage];
  std::vector<std::vector<std::pair<int64_t, int64_t>>> crit_busy(stages_.stages);
  for (int32_t i = 0; i < n_ops; ++i) {
    const OpInfo& o = op_info_[i];
    if (o.device >= 0 && o.device == crit_of_stage[o.stage]) crit_busy[o.stage].emplace_back(sched_.start(i).ps(), sched_.end(i).ps());
  }
  for (auto& v : crit_busy) std::sort(v.begin(), v.end());

  struct Acc {
    int64_t attention = 0, dense = 0, shared = 0, experts = 0, dispatch = 0, combine = 0, exposed = 0;
  };
  std::vector<Acc> acc(L);
  std::vector<int64_t> experts_max(L, 0);
  std::vector<std::vector<int64_t>> experts_by_device(L, std::vector<int64_t>(0));
  Acc other;  // ops outside layers (LM head, gradient sync, optimizer) of the critical stage
  for (int32_t i = 0; i < n_ops; ++i) {
    const OpInfo& o = op_info_[i];
    const bool in_layer = o.layer >= 0 && o.layer < L;
    if (!in_layer && o.stage != crit_stage) continue;
    Acc& a = in_layer ? acc[o.layer] : other;
    const int64_t dur = sched_.duration(i).ps();
    if (o.device < 0) {
      const int64_t exposed = uncovered(sched_.start(i).ps(), sched_.end(i).ps(), crit_busy[o.stage]);
      a.exposed += exposed;
      if (o.kind == OpKind::Dispatch) a.dispatch += dur;
      if (o.kind == OpKind::Combine) a.combine += dur;
      continue;
    }
    if (o.kind == OpKind::Experts && o.layer >= 0) {
      auto& v = experts_by_device[o.layer];
      if (v.empty()) v.assign(D, 0);
      v[o.device] += dur;
    }
    if (o.device != crit_of_stage[o.stage]) continue;
    switch (o.kind) {
      case OpKind::Attention: a.attention += dur; break;
      case OpKind::DenseFfn: a.dense += dur; break;
      case OpKind::SharedExpert: a.shared += dur; break;
      case OpKind::Experts: a.experts += dur; break;
      default: a.attention += 0; other.dense += dur; break;
    }
  }

  Json layers = Json::array();
  int64_t assignments = 0, dropped = 0;
  double a2a_intra = 0, a2a_inter = 0, d_intra = 0, d_inter = 0, c_intra = 0, c_inter = 0;
  double load_sum = 0, dev_load_sum = 0, max_util = 0;
  int64_t n_moe = 0;
  bool conserved = true, sent_eq_received = true;
  Acc total;
  for (int64_t l = 0; l < L; ++l) {
    const Acc& a = acc[l];
    for (int64_t v : experts_by_device[l]) experts_max[l] = std::max(experts_max[l], v);
    const int64_t layer_time = a.attention + a.dense + a.shared + a.experts + a.exposed;
    Json j = {{"layer", l},
              {"type", m.layer_is_moe[l] ? "moe" : "dense"},
              {"layer_time_us", us(SimTime::from_ps(layer_time))},
              {"attention_us", us(SimTime::from_ps(a.attention))},
              {"dense_ffn_us", us(SimTime::from_ps(a.dense))},
              {"shared_expert_us", us(SimTime::from_ps(a.shared))},
              {"expert_compute_us", us(SimTime::from_ps(a.experts))},
              {"expert_compute_max_device_us", us(SimTime::from_ps(experts_max[l]))},
              {"dispatch_us", us(SimTime::from_ps(a.dispatch))},
              {"combine_us", us(SimTime::from_ps(a.combine))},
              {"exposed_comm_us", us(SimTime::from_ps(a.exposed))}};
    if (stages_.stage_of_layer[l] == crit_stage) {
      total.attention += a.attention, total.dense += a.dense, total.shared += a.shared, total.experts += a.experts;
      total.dispatch += a.dispatch, total.combine += a.combine, total.exposed += a.exposed;
    }
    j["stage"] = stages_.stage_of_layer[l];
    if (m.layer_is_moe[l]) {
      const MoeLayerStats& s = layer_stats_[l];
      const int64_t kept = std::accumulate(s.expert_load.begin(), s.expert_load.end(), int64_t{0});
      const int64_t dropped_e = std::accumulate(s.expert_dropped.begin(), s.expert_dropped.end(), int64_t{0});
      const int64_t slot_total = std::accumulate(s.device_tokens.begin(), s.device_tokens.end(), int64_t{0});
      const bool padded = cfg_.moe.dispatch_mode == DispatchMode::Padded;
      conserved = conserved && kept + dropped_e == s.assignments && dropped_e == s.dropped && (padded || slot_total == kept);
      sent_eq_received = sent_eq_received && std::fabs(s.bytes_sent - s.bytes_received) <= 1e-9 * std::max(1.0, s.bytes_sent);
      std::vector<int64_t> dev_tokens;
      for (int64_t d = 0; d < D; ++d)
        if (stages_.stage_of_device(d) == stages_.stage_of_layer[l]) dev_tokens.push_back(s.device_tokens[d]);
      const double lmm = max_over_mean(s.expert_load), dmm = max_over_mean(dev_tokens);
      load_sum += lmm, dev_load_sum += dmm, ++n_moe;
      assignments += s.assignments, dropped += s.dropped;
      d_intra += s.dispatch_bytes_intra, d_inter += s.dispatch_bytes_inter;
      c_intra += s.combine_bytes_intra, c_inter += s.combine_bytes_inter;
      max_util = std::max(max_util, s.max_link_utilization);
      j["expert_load_max_over_mean"] = lmm;
      j["device_load_max_over_mean"] = dmm;
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
      j["device_load"] = dev_tokens;  // routed copies each device of the layer's stage processed
      if (cfg_.moe.capacity_factor) j["expert_dropped"] = s.expert_dropped;
    }
    layers.push_back(std::move(j));
  }
  a2a_intra = d_intra + c_intra;
  a2a_inter = d_inter + c_inter;

  const double step_s = step_time_.seconds();
  const double unique_tokens = static_cast<double>(D / (cfg_.parallel.attention_tensor_parallel * stages_.stages)) *
                               static_cast<double>(cfg_.workload.tokens_per_device * cfg_.workload.micro_batches);
  const double tokens_per_s = step_s > 0 ? unique_tokens / step_s : 0.0;

  Json hbm_devices = Json::array();
  double hbm_max = 0;
  int64_t hbm_max_device = 0;
  bool fits = true, hbm_non_negative = true;
  const double usable = cfg_.hardware.usable_hbm_bytes();
  for (int64_t d = 0; d < D; ++d) {
    Json j = hbm_[d].to_json(usable, cfg_.hardware.hbm_capacity_bytes);
    j["device"] = d;
    for (const auto& [name, b] : hbm_[d].entries()) hbm_non_negative = hbm_non_negative && b >= 0;
    if (hbm_[d].total() > hbm_max) hbm_max = hbm_[d].total(), hbm_max_device = d;
    fits = fits && hbm_[d].total() <= usable;
    hbm_devices.push_back(std::move(j));
  }

  Json r;
  r["moesim_version"] = MOESIM_VERSION;
  r["experiment"] = cfg_.resolved;
  r["step_time_us"] = us(step_time_);
  r["tokens_per_s"] = tokens_per_s;
  r["tokens_per_s_per_device"] = tokens_per_s / static_cast<double>(D);
  r["tokens_per_step"] = unique_tokens;
  r["pipeline_bubble_us"] = us(pipeline_bubble_);
  r["critical_device"] = crit;
  r["breakdown_us"] = {{"attention", us(SimTime::from_ps(total.attention))},
                       {"dense_ffn", us(SimTime::from_ps(total.dense))},
                       {"shared_expert", us(SimTime::from_ps(total.shared))},
                       {"expert_compute", us(SimTime::from_ps(total.experts))},
                       {"dispatch", us(SimTime::from_ps(total.dispatch))},
                       {"combine", us(SimTime::from_ps(total.combine))},
                       {"exposed_comm", us(SimTime::from_ps(total.exposed + other.exposed))},
                       {"other_compute", us(SimTime::from_ps(other.dense))},
                       {"pipeline_bubble", us(pipeline_bubble_)}};
  r["breakdown_scope"] = stages_.stages > 1 ? "the critical device of the slowest pipeline stage (its layers), plus the 1F1B bubble"
                                             : "the critical device";
  r["all_to_all"] = {{"bytes_intra_node", a2a_intra}, {"bytes_inter_node", a2a_inter},
                     {"dispatch_bytes_intra_node", d_intra}, {"dispatch_bytes_inter_node", d_inter},
                     {"combine_bytes_intra_node", c_intra}, {"combine_bytes_inter_node", c_inter},
                     {"dispatch_bytes_per_token", dispatch_token_bytes(cfg_)},
                     {"combine_bytes_per_token", combine_token_bytes(cfg_)},
                     {"network_model", cfg_.cluster.network_model},
                     {"algorithm", a2a_algorithm_}};
  r["expert_load"] = {{"load_max_over_mean_mean", n_moe ? load_sum / static_cast<double>(n_moe) : 0.0},
                      {"device_load_max_over_mean", n_moe ? dev_load_sum / static_cast<double>(n_moe) : 0.0}};
  r["drops"] = {{"assignments", assignments}, {"tokens_dropped", dropped},
                {"drop_fraction", assignments ? static_cast<double>(dropped) / static_cast<double>(assignments) : 0.0},
                {"capacity_factor", cfg_.moe.capacity_factor ? Json(*cfg_.moe.capacity_factor) : Json("none")}};
  r["hbm"] = {{"capacity_bytes", cfg_.hardware.hbm_capacity_bytes}, {"usable_bytes", usable},
              {"max_device_total_bytes", std::round(hbm_max)}, {"max_device", hbm_max_device}, {"fits", fits},
              {"overflow_bytes", hbm_max > usable ? std::round(hbm_max - usable) : 0.0}, {"devices", hbm_devices}};
  r["layers"] = layers;
  r["routing"] = routing_->summary();
  Json expert_sources = Json::object();
  for (const auto& [source, n] : expert_sources_) expert_sources[source] = n;
  r["cost_sources"] = {{"compute", "roofline"},
                       {"expert_block", expert_sources},
                       {"shared_expert", shared_source_},
                       {"expert_backend", cfg_.compute.expert_backend},
                       {"calibration", expert_model_ && expert_model_->table() ? Json(expert_model_->table()->provenance.gpu_name + ", " +
                                                                                     expert_model_->table()->provenance.date_utc)
                                                                               : Json(nullptr)},
                       {"network", cfg_.cluster.network_model},
                       {"all_to_all", a2a_algorithm_}};
  r["invariants"] = {{"tokens_conserved", conserved}, {"bytes_sent_equal_received", sent_eq_received},
                     {"max_link_utilization", max_util}, {"no_link_above_100_percent", max_util <= 1.0 + 1e-9},
                     {"hbm_non_negative", hbm_non_negative}};
  r["simulation"] = {{"events", stats_.events}, {"ops", stats_.ops}};
  // Cost: device-hours per million tokens of the phase (input tokens for prefill, output tokens
  // for decode, trained tokens for training) at the configured price.
  const double nodes = static_cast<double>(cfg_.cluster.nodes);
  Json cost = {{"tokens_per_s_per_node", tokens_per_s / nodes},
               {"token_kind", cfg_.workload.phase == WorkloadPhase::Prefill ? "input" : cfg_.workload.phase == WorkloadPhase::Decode ? "output" : "trained"},
               {"device_hours_per_million_tokens", tokens_per_s > 0 ? static_cast<double>(D) * 1e6 / tokens_per_s / 3600.0 : 0.0}};
  if (cfg_.cost.price_per_device_hour > 0) {
    cost["price_per_device_hour"] = cfg_.cost.price_per_device_hour;
    cost["price_source"] = cfg_.cost.source;
    cost["cost_per_million_tokens"] = cost["device_hours_per_million_tokens"].get<double>() * cfg_.cost.price_per_device_hour;
  }
  r["cost"] = cost;
  return r;
}

Json Simulation::timeline() const {
  if (!ran_) throw std::logic_error("timeline before run");
  Json events = Json::array();
  const int64_t D = cfg_.cluster.devices();
  const bool overlap = cfg_.schedule.overlap != OverlapSchedule::None;
  for (int64_t d = 0; d < D; ++d) {
    events.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", d}, {"args", {{"name", "device " + std::to_string(d)}}}});
    events.push_back({{"ph", "M"}, {"name", "process_sort_index"}, {"pid", d}, {"args", {{"sort_index", d}}}});
    events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", d}, {"tid", 0}, {"args", {{"name", "compute"}}}});
    if (overlap) events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", d}, {"tid", 1}, {"args", {{"name", "comm"}}}});
  }
  const int32_t n_ops = static_cast<int32_t>(sched_.num_ops());
  // Forward expert ops by (layer, micro-batch, device), to draw each device's largest dispatch
  // transfer as a flow arrow from its dispatch slice to the receiving device's expert slice.
  const int64_t M = cfg_.workload.micro_batches;
  std::vector<int32_t> experts_op(static_cast<size_t>(cfg_.model.num_layers * M * D), -1);
  for (int32_t i = 0; i < n_ops; ++i) {
    const OpInfo& o = op_info_[i];
    if (o.kind == OpKind::Experts && !o.backward) experts_op[static_cast<size_t>((o.layer * M + o.micro_batch) * D + o.device)] = i;
  }
  int64_t flow_id = 0;
  for (int32_t i = 0; i < n_ops; ++i) {
    const OpInfo& o = op_info_[i];
    if (o.kind != OpKind::Dispatch || o.backward || o.device >= 0) continue;
    const auto& top = moe_[o.layer][o.micro_batch].top_destination;
    for (int64_t src = 0; src < D; ++src) {
      const int32_t dst = top[src];
      if (dst < 0) continue;
      const int32_t x = experts_op[static_cast<size_t>((o.layer * M + o.micro_batch) * D + dst)];
      if (x < 0) continue;
      ++flow_id;
      events.push_back({{"ph", "s"}, {"name", "dispatch"}, {"cat", "transfer"}, {"id", flow_id}, {"pid", src}, {"tid", overlap ? 1 : 0},
                        {"ts", us(sched_.start(i))}});
      events.push_back({{"ph", "f"}, {"bp", "e"}, {"name", "dispatch"}, {"cat", "transfer"}, {"id", flow_id}, {"pid", dst}, {"tid", 0},
                        {"ts", us(sched_.start(x))}});
    }
  }
  for (int32_t i = 0; i < n_ops; ++i) {
    const OpInfo& o = op_info_[i];
    std::string name = op_kind_name(o.kind);
    if (o.backward) name += "_bwd";
    Json args = {{"layer", o.layer}, {"micro_batch", o.micro_batch}};
    const double ts = us(sched_.start(i)), dur = us(sched_.duration(i));
    if (o.device >= 0) {
      events.push_back({{"ph", "X"}, {"name", name}, {"cat", "compute"}, {"pid", o.device}, {"tid", 0}, {"ts", ts}, {"dur", dur}, {"args", args}});
    } else {
      const int64_t first = o.stage * stages_.devices_per_stage;
      for (int64_t d = first; d < first + stages_.devices_per_stage; ++d)
        events.push_back({{"ph", "X"}, {"name", name}, {"cat", "comm"}, {"pid", d}, {"tid", overlap ? 1 : 0}, {"ts", ts}, {"dur", dur}, {"args", args}});
    }
  }
  return {{"traceEvents", events}, {"displayTimeUnit", "ns"}, {"otherData", {{"generator", "moesim"}, {"experiment", cfg_.name}}}};
}

}  // namespace moesim
