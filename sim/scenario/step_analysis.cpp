#include "sim/scenario/step_analysis.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "sim/moe/layer_costs.h"

namespace moesim {
namespace {

double max_over_mean(const std::vector<int64_t>& v) {
  if (v.empty()) return 0;
  const double sum = static_cast<double>(std::accumulate(v.begin(), v.end(), int64_t{0}));
  if (sum <= 0) return 0;
  return static_cast<double>(*std::max_element(v.begin(), v.end())) / (sum / static_cast<double>(v.size()));
}

using Intervals = std::vector<std::pair<int64_t, int64_t>>;

// Length of [s, e) not covered by the sorted, disjoint intervals.
int64_t uncovered(int64_t s, int64_t e, const Intervals& busy) {
  int64_t covered = 0;
  auto it = std::lower_bound(busy.begin(), busy.end(), std::make_pair(s, INT64_MIN));
  if (it != busy.begin()) --it;
  for (; it != busy.end() && it->first < e; ++it) covered += std::max<int64_t>(0, std::min(e, it->second) - std::max(s, it->first));
  return (e - s) - covered;
}

// The critical device of each stage (most compute busy time, lowest id on ties) and the stage
// that ends last.
void find_critical(const Scenario& sc, const StepGraph& g, StepAnalysis& a, std::vector<int64_t>& crit_of_stage) {
  const auto& st = sc.stages();
  std::vector<int64_t> busy(sc.config().cluster.devices(), 0), stage_end(st.stages, 0);
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const auto id = static_cast<int32_t>(i);
    if (g.ops[i].device >= 0) busy[g.ops[i].device] += g.scheduler.duration(id).ps();
    stage_end[g.ops[i].stage] = std::max(stage_end[g.ops[i].stage], g.scheduler.end(id).ps());
  }
  crit_of_stage.resize(st.stages);
  for (int64_t s = 0; s < st.stages; ++s) {
    const auto first = busy.begin() + s * st.devices_per_stage;
    crit_of_stage[s] = std::max_element(first, first + st.devices_per_stage) - busy.begin();
  }
  a.critical_stage = std::max_element(stage_end.begin(), stage_end.end()) - stage_end.begin();
  a.critical_device = crit_of_stage[a.critical_stage];
}

void add_kind(OpKindTimes& t, OpKind kind, int64_t dur, int64_t& other_compute) {
  switch (kind) {
    case OpKind::Attention: t.attention += dur; break;
    case OpKind::MoeLocal: t.moe_local += dur; break;
    case OpKind::DenseFfn: t.dense_ffn += dur; break;
    case OpKind::SharedExpert: t.shared_expert += dur; break;
    case OpKind::Experts: t.experts += dur; break;
    default: other_compute += dur; break;
  }
}

// Per layer times on the critical device, exposed communication, and each layer's largest expert time.
void time_layers(const Scenario& sc, const StepGraph& g, const std::vector<int64_t>& crit_of_stage, StepAnalysis& a) {
  const int64_t L = sc.config().model.num_layers, D = sc.config().cluster.devices();
  std::vector<Intervals> crit_busy(crit_of_stage.size());
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const OpInfo& o = g.ops[i];
    if (o.device >= 0 && o.device == crit_of_stage[o.stage])
      crit_busy[o.stage].emplace_back(g.scheduler.start(static_cast<int32_t>(i)).ps(), g.scheduler.end(static_cast<int32_t>(i)).ps());
  }
  for (auto& v : crit_busy) std::sort(v.begin(), v.end());
  a.layers.assign(L, {});
  std::vector<std::vector<int64_t>> experts_by_device(L);
  OpKindTimes other;
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const OpInfo& o = g.ops[i];
    const auto id = static_cast<int32_t>(i);
    const bool in_layer = o.layer >= 0 && o.layer < L;
    if (!in_layer && o.stage != a.critical_stage) continue;
    OpKindTimes& t = in_layer ? a.layers[o.layer].times : other;
    const int64_t dur = g.scheduler.duration(id).ps();
    if (o.device < 0) {
      t.exposed += uncovered(g.scheduler.start(id).ps(), g.scheduler.end(id).ps(), crit_busy[o.stage]);
      if (o.kind == OpKind::Dispatch) t.dispatch += dur;
      if (o.kind == OpKind::Combine) t.combine += dur;
      continue;
    }
    if (o.kind == OpKind::Experts && o.layer >= 0) {
      auto& v = experts_by_device[o.layer];
      if (v.empty()) v.assign(D, 0);
      v[o.device] += dur;
    }
    if (o.device == crit_of_stage[o.stage]) add_kind(t, o.kind, dur, a.other_compute_ps);
  }
  a.other_exposed_ps = other.exposed;
  for (int64_t l = 0; l < L; ++l)
    for (int64_t v : experts_by_device[l]) a.layers[l].experts_max_device_ps = std::max(a.layers[l].experts_max_device_ps, v);
}

void sum_critical_stage(const Scenario& sc, StepAnalysis& a) {
  for (size_t l = 0; l < a.layers.size(); ++l) {
    if (sc.stages().stage_of_layer[l] != a.critical_stage) continue;
    const OpKindTimes& t = a.layers[l].times;
    a.total.attention += t.attention, a.total.moe_local += t.moe_local, a.total.dense_ffn += t.dense_ffn, a.total.shared_expert += t.shared_expert, a.total.experts += t.experts;
    a.total.dispatch += t.dispatch, a.total.combine += t.combine, a.total.exposed += t.exposed;
  }
}

void analyse_moe_layer(const Scenario& sc, int64_t l, const MoeLayerStats& s, StepAnalysis& a) {
  const auto& c = sc.config();
  LayerAnalysis& la = a.layers[l];
  const int64_t kept = std::accumulate(s.expert_load.begin(), s.expert_load.end(), int64_t{0});
  const int64_t dropped = std::accumulate(s.expert_dropped.begin(), s.expert_dropped.end(), int64_t{0});
  const int64_t slot_total = std::accumulate(s.device_tokens.begin(), s.device_tokens.end(), int64_t{0});
  const bool padded = c.moe.dispatch_mode == DispatchMode::Padded;
  a.tokens_conserved = a.tokens_conserved && kept + dropped == s.assignments && dropped == s.dropped && (padded || slot_total == kept);
  a.bytes_sent_equal_received = a.bytes_sent_equal_received && std::fabs(s.bytes_sent - s.bytes_received) <= 1e-9 * std::max(1.0, s.bytes_sent);
  for (int64_t d = 0; d < c.cluster.devices(); ++d)
    if (sc.stages().stage_of_device(d) == sc.stages().stage_of_layer[l]) la.device_load.push_back(s.device_tokens[d]);
  la.expert_load_max_over_mean = max_over_mean(s.expert_load);
  la.device_load_max_over_mean = max_over_mean(la.device_load);
  a.load_max_over_mean_sum += la.expert_load_max_over_mean, a.device_load_max_over_mean_sum += la.device_load_max_over_mean, ++a.moe_layers;
  a.assignments += s.assignments, a.dropped += s.dropped;
  a.dispatch_bytes_intra += s.dispatch_bytes_intra, a.dispatch_bytes_inter += s.dispatch_bytes_inter;
  a.combine_bytes_intra += s.combine_bytes_intra, a.combine_bytes_inter += s.combine_bytes_inter;
  a.max_link_utilization = std::max(a.max_link_utilization, s.max_link_utilization);
  a.max_wire_utilization = std::max(a.max_wire_utilization, s.max_wire_utilization);
}

void analyse_memory(const Scenario& sc, const std::vector<HbmLedger>& hbm, StepAnalysis& a) {
  const double usable = sc.config().hardware.usable_hbm_bytes();
  for (size_t d = 0; d < hbm.size(); ++d) {
    for (const auto& entry : hbm[d].entries()) a.hbm_non_negative = a.hbm_non_negative && entry.second >= 0;
    if (hbm[d].total() > a.hbm_max_bytes) a.hbm_max_bytes = hbm[d].total(), a.hbm_max_device = static_cast<int64_t>(d);
    a.hbm_fits = a.hbm_fits && hbm[d].total() <= usable;
  }
  const auto& c = sc.config();
  if (c.runtime.framework == ServingFramework::None) return;
  // With a serving engine, fitting means fitting its pools on every device.
  const auto& m = c.model;
  const double kv_shard = kv_shard_count(m, c.parallel.attention_tensor_parallel);
  const double kv_per_token = kv_bytes_per_token_layer(m, dtype_bytes(c.memory.kv_cache_dtype)) * static_cast<double>(m.num_layers) / kv_shard;
  a.hbm_fits = true;
  for (size_t d = 0; d < hbm.size(); ++d) {
    const ServingMemory s = serving_memory(c.runtime, c.parallel.attention_tensor_parallel, hbm[d], c.hardware.hbm_capacity_bytes,
                                           c.hardware.hbm_reserved_bytes, kv_per_token);
    a.hbm_fits = a.hbm_fits && s.fits;
    if (!a.serving || s.kv_capacity_tokens < a.serving->kv_capacity_tokens) a.serving = s, a.serving_device = static_cast<int64_t>(d);
  }
}

}  // namespace

StepAnalysis analyse_step(const Scenario& sc, const LayerPassResult& pass, const StepGraph& g, const std::vector<HbmLedger>& hbm,
                          SimTime step_time, SimTime pipeline_bubble) {
  const auto& c = sc.config();
  StepAnalysis a;
  a.step_time = step_time;
  a.pipeline_bubble = pipeline_bubble;
  std::vector<int64_t> crit_of_stage;
  find_critical(sc, g, a, crit_of_stage);
  time_layers(sc, g, crit_of_stage, a);
  sum_critical_stage(sc, a);
  for (int64_t l = 0; l < c.model.num_layers; ++l)
    if (c.model.layer_is_moe[l]) analyse_moe_layer(sc, l, pass.layer_stats[l], a);
  const double step_s = step_time.seconds();
  // Attention data-parallel replicas: whole groups of tensor-parallel x pipeline devices.
  const int64_t replicas = c.cluster.devices() / (c.parallel.attention_tensor_parallel * sc.stages().stages);
  a.tokens_per_step = static_cast<double>(replicas) * static_cast<double>(c.workload.tokens_per_device * c.workload.micro_batches);
  a.tokens_per_s = step_s > 0 ? a.tokens_per_step / step_s : 0.0;
  analyse_memory(sc, hbm, a);
  return a;
}

}  // namespace moesim
