// The timeline of a finished step as Chrome trace events (ui.perfetto.dev): one process per
// device with a compute thread (and a comm thread under overlap), every op as a slice, and each
// device's largest dispatch transfer as a flow arrow from its dispatch slice to the receiving
// device's expert slice.
#include "sim/scenario/simulation.h"

namespace moesim {
namespace {

double us(SimTime t) { return static_cast<double>(t.ps()) / 1e6; }

void add_device_names(Json& events, int64_t devices, bool overlap) {
  for (int64_t d = 0; d < devices; ++d) {
    events.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", d}, {"args", {{"name", "device " + std::to_string(d)}}}});
    events.push_back({{"ph", "M"}, {"name", "process_sort_index"}, {"pid", d}, {"args", {{"sort_index", d}}}});
    events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", d}, {"tid", 0}, {"args", {{"name", "compute"}}}});
    if (overlap) events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", d}, {"tid", 1}, {"args", {{"name", "comm"}}}});
  }
}

void add_dispatch_flows(Json& events, const ExperimentConfig& c, const StepGraph& g, const LayerPassResult& pass, bool overlap) {
  const int64_t D = c.cluster.devices(), M = c.workload.micro_batches;
  const auto n_ops = static_cast<int32_t>(g.ops.size());
  // Forward expert ops by (layer, micro-batch, device).
  std::vector<int32_t> experts_op(static_cast<size_t>(c.model.num_layers * M * D), -1);
  for (int32_t i = 0; i < n_ops; ++i) {
    const OpInfo& o = g.ops[i];
    if (o.kind == OpKind::Experts && !o.backward) experts_op[static_cast<size_t>((o.layer * M + o.micro_batch) * D + o.device)] = i;
  }
  int64_t flow_id = 0;
  for (int32_t i = 0; i < n_ops; ++i) {
    const OpInfo& o = g.ops[i];
    if (o.kind != OpKind::Dispatch || o.backward || o.device >= 0) continue;
    const auto& top = pass.moe[o.layer][o.micro_batch].top_destination;
    for (int64_t src = 0; src < D; ++src) {
      const int32_t dst = top[src];
      if (dst < 0) continue;
      const int32_t x = experts_op[static_cast<size_t>((o.layer * M + o.micro_batch) * D + dst)];
      if (x < 0) continue;
      ++flow_id;
      events.push_back({{"ph", "s"}, {"name", "dispatch"}, {"cat", "transfer"}, {"id", flow_id}, {"pid", src}, {"tid", overlap ? 1 : 0},
                        {"ts", us(g.scheduler.start(i))}});
      events.push_back({{"ph", "f"}, {"bp", "e"}, {"name", "dispatch"}, {"cat", "transfer"}, {"id", flow_id}, {"pid", dst}, {"tid", 0},
                        {"ts", us(g.scheduler.start(x))}});
    }
  }
}

void add_op_slices(Json& events, const StageLayout& st, const StepGraph& g, bool overlap) {
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const OpInfo& o = g.ops[i];
    const auto id = static_cast<int32_t>(i);
    std::string name = op_kind_name(o.kind);
    if (o.backward) name += "_bwd";
    Json args = {{"layer", o.layer}, {"micro_batch", o.micro_batch}};
    const double ts = us(g.scheduler.start(id)), dur = us(g.scheduler.duration(id));
    if (o.device >= 0) {
      events.push_back({{"ph", "X"}, {"name", name}, {"cat", "compute"}, {"pid", o.device}, {"tid", 0}, {"ts", ts}, {"dur", dur}, {"args", args}});
      continue;
    }
    const int64_t first = o.stage * st.devices_per_stage;
    for (int64_t d = first; d < first + st.devices_per_stage; ++d)
      events.push_back({{"ph", "X"}, {"name", name}, {"cat", "comm"}, {"pid", d}, {"tid", overlap ? 1 : 0}, {"ts", ts}, {"dur", dur}, {"args", args}});
  }
}

}  // namespace

Json Simulation::timeline() const {
  if (!ran_) throw std::logic_error("timeline before run");
  const auto& c = scenario_->config();
  const bool overlap = c.schedule.overlap != OverlapSchedule::None;
  Json events = Json::array();
  add_device_names(events, c.cluster.devices(), overlap);
  add_dispatch_flows(events, c, graph_, pass_, overlap);
  add_op_slices(events, scenario_->stages(), graph_, overlap);
  return {{"traceEvents", events}, {"displayTimeUnit", "ns"}, {"otherData", {{"generator", "moesim"}, {"experiment", c.name}}}};
}

}  // namespace moesim
