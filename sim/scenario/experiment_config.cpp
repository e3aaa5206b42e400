#include "sim/scenario/experiment_config.h"

#include <filesystem>

#include <fmt/format.h>

#include "sim/hardware/expert_backends.h"
#include "sim/moe/placement.h"
#include "sim/network/a2a.h"
#include "sim/network/topology_registry.h"
#include "sim/scenario/data_paths.h"

namespace moesim {

namespace {

const std::initializer_list<Dtype> kDtypes16or8 = {Dtype::Bf16, Dtype::Fp8};

Dtype as_dtype(const JsonValue& v, std::initializer_list<Dtype> allowed) { return *parse_dtype(v.as_choice(dtype_names_of(allowed))); }

// A generator parameter read as its spec says (type and range).
double read_param(const JsonValue& v, const ParamSpec& p) {
  if (p.type == "integer") return static_cast<double>(v.as_int(static_cast<int64_t>(p.min), static_cast<int64_t>(p.max)));
  if (p.type == "bandwidth") return v.as_bandwidth();
  return v.as_number(p.min, p.max);
}

// The parameters a topology generator takes (TopologySpec fields beyond the cluster shape), read
// as its specs say (type and range); one it does not take is an error.
void parse_topology_params(ObjectReader& o, const TopologyRegistry::Entry& gen, TopologySpec& t) {
  const std::pair<const char*, double*> numbers[] = {{"oversubscription", &t.oversubscription}, {"peer_bandwidth", &t.peer_bandwidth_Bps}};
  const std::pair<const char*, int64_t*> integers[] = {{"spines", &t.spines}, {"nodes_per_leaf", &t.nodes_per_leaf}};
  auto read = [&](const char* key) -> std::optional<double> {
    const auto v = o.optional(key);
    if (!v) return std::nullopt;
    for (const auto& p : gen.params)
      if (p.key == key) return read_param(*v, p);
    std::string takes;
    for (const auto& p : gen.params) takes += (takes.empty() ? "" : ", ") + p.key;
    v->fail(fmt::format("topology \"{}\" takes no \"{}\" (its parameters: {})", gen.name, key, takes.empty() ? "none" : takes));
  };
  for (const auto& [key, field] : numbers)
    if (auto x = read(key)) *field = *x;
  for (const auto& [key, field] : integers)
    if (auto x = read(key)) *field = static_cast<int64_t>(*x);
}

ModelConfig resolve_model(const JsonValue& v, const std::string& experiment_file) {
  if (v.is_object()) return parse_model(v);
  const std::string path = resolve_data_file(v.as_string(), "models", experiment_file);
  if (!std::filesystem::exists(path)) {
    auto names = bundled_names("models");
    v.fail(fmt::format("no model \"{}\" (file {} not found); did you mean \"{}\"?", v.as_string(), path, closest(v.as_string(), names)));
  }
  return load_model_file(path);
}

HardwareProfile resolve_hardware(const JsonValue& v, const std::string& experiment_file) {
  if (v.is_object()) return parse_hardware(v);
  const std::string path = resolve_data_file(v.as_string(), "hw_profiles", experiment_file);
  if (!std::filesystem::exists(path)) {
    auto names = bundled_names("hw_profiles");
    v.fail(fmt::format("no hardware profile \"{}\" (file {} not found); did you mean \"{}\"?", v.as_string(), path, closest(v.as_string(), names)));
  }
  return load_hardware_file(path);
}

// The topology defaults to the generator for the device's scale-up fabric (default_topology).
ClusterConfig parse_cluster(const JsonValue& v, const HardwareProfile& hw) {
  auto o = v.as_object();
  ClusterConfig c;
  TopologySpec& t = c.topology;
  t.nodes = o.required("nodes").as_int(1, 100000);
  t.devices_per_node = o.required("devices_per_node").as_int(1, 1024);
  t.nics_per_node = o.optional("nics_per_node") ? o.required("nics_per_node").as_int(0, 1024) : t.devices_per_node;
  t.generator = default_topology(hw.intra_node.fabric);
  if (auto g = o.optional("topology")) t.generator = g->as_choice(topology_registry().names());
  parse_topology_params(o, *topology_registry().find(t.generator), t);
  if (auto m = o.optional("network_model")) c.network_model = m->as_enum(network_model_names());
  if (auto f = o.optional("flow_tolerance")) c.flow_tolerance = f->as_number(0.0, 0.1);
  if (t.nodes > 1 && t.nics_per_node == 0) o.self().fail("a cluster of several nodes needs nics_per_node >= 1");
  if (t.nics_per_node > 0 && t.devices_per_node % t.nics_per_node != 0 && t.nics_per_node % t.devices_per_node != 0)
    o.self().fail(fmt::format("devices_per_node ({}) and nics_per_node ({}) must divide one another", t.devices_per_node, t.nics_per_node));
  o.finish();
  return c;
}

ParallelConfig parse_parallel(const JsonValue& v, const ClusterConfig& cluster) {
  auto o = v.as_object();
  ParallelConfig p;
  p.expert_parallel = o.required("expert_parallel").as_int(1, 1 << 20);
  if (auto t = o.optional("attention_tensor_parallel")) p.attention_tensor_parallel = t->as_int(1, 1024);
  if (auto t = o.optional("expert_tensor_parallel")) p.expert_tensor_parallel = t->as_int(1, 1024);
  if (auto s = o.optional("pipeline_stages")) p.pipeline_stages = s->as_int(1, 1024);
  const int64_t devices = cluster.devices();
  const int64_t per_stage = devices / p.pipeline_stages;
  const int64_t devices_per_node = cluster.topology.devices_per_node;
  if (devices % p.pipeline_stages != 0)
    o.required("pipeline_stages").fail(fmt::format("{} devices do not divide into {} pipeline stages", devices, p.pipeline_stages));
  if (per_stage % (p.expert_parallel * p.expert_tensor_parallel) != 0)
    o.required("expert_parallel").fail(p.expert_tensor_parallel == 1
        ? fmt::format("expert_parallel {} does not divide the {} devices of a pipeline stage", p.expert_parallel, per_stage)
        : fmt::format("expert_parallel {} x expert_tensor_parallel {} does not divide the {} devices of a pipeline stage",
                      p.expert_parallel, p.expert_tensor_parallel, per_stage));
  if (per_stage % p.attention_tensor_parallel != 0 || p.attention_tensor_parallel > devices_per_node)
    o.required("attention_tensor_parallel").fail(fmt::format("attention_tensor_parallel {} must divide the {} devices of a stage and fit in a node of {}",
                                                             p.attention_tensor_parallel, per_stage, devices_per_node));
  p.attention_data_parallel = per_stage / p.attention_tensor_parallel;
  if (auto d = o.optional("attention_data_parallel")) {
    if (d->as_positive_int() != p.attention_data_parallel)
      d->fail(fmt::format("attention_data_parallel must be devices / (tensor parallel x pipeline stages) = {}", p.attention_data_parallel));
  }
  o.finish();
  return p;
}

WorkloadConfig parse_workload(const JsonValue& v) {
  auto o = v.as_object();
  WorkloadConfig w;
  w.phase = o.required("phase").as_enum<WorkloadPhase>(kWorkloadPhaseNames);
  w.tokens_per_device = o.required("tokens_per_device").as_int(1, 1 << 24);
  if (auto m = o.optional("micro_batches")) w.micro_batches = m->as_int(1, 4096);
  if (w.phase == WorkloadPhase::Decode) {
    w.context_length = o.required("context_length").as_int(1, 1 << 24);
    w.sequence_length = 1;
    o.optional("sequence_length");
  } else {
    w.sequence_length = o.required("sequence_length").as_int(1, 1 << 24);
    w.context_length = w.sequence_length;
    o.optional("context_length");
  }
  o.finish();
  return w;
}

RoutingConfig parse_routing(const JsonValue& v, const std::string& experiment_file) {
  auto o = v.as_object();
  RoutingConfig r;
  r.source = o.required("source").as_choice(routing_registry().names());
  if (auto s = o.optional("seed")) r.seed = static_cast<uint64_t>(s->as_int(0, INT64_C(1) << 53));
  if (auto g = o.optional("group_limited")) r.group_limited = g->as_bool();
  if (!routing_registry().find(r.source)->traits.needs_file) {
    r.distribution = o.required("distribution").as_choice({"uniform", "zipf", "deepep-bench"});
    if (r.distribution == "zipf") r.zipf_exponent = o.required("zipf_exponent").as_number(0.0, 10.0);
    else o.optional("zipf_exponent");
  } else {
    auto f = o.required("file");
    r.file_as_written = f.as_string();
    r.file = resolve_relative(r.file_as_written, experiment_file);
    if (!std::filesystem::is_regular_file(r.file)) f.fail("no such file: " + r.file);
    o.optional("distribution");
    o.optional("zipf_exponent");
  }
  o.finish();
  return r;
}

MoeRunConfig parse_moe_run(const JsonValue& v) {
  auto o = v.as_object();
  MoeRunConfig m;
  if (auto c = o.optional("capacity_factor")) {
    if (c->is_string()) {
      if (c->as_choice({"none"}) != "none") c->fail("expected a number or \"none\"");
    } else {
      m.capacity_factor = c->as_number(0.01, 1000.0);
    }
  }
  if (auto d = o.optional("dispatch_mode")) m.dispatch_mode = d->as_enum<DispatchMode>(kDispatchModeNames);
  if (m.dispatch_mode == DispatchMode::Padded && !m.capacity_factor)
    o.required("dispatch_mode").fail("padded dispatch needs a capacity_factor");
  if (auto d = o.optional("drop_policy")) m.drop_policy = d->as_enum<DropPolicy>(kDropPolicyNames);
  if (auto d = o.optional("dispatch_dtype")) m.dispatch_dtype = as_dtype(*d, kDtypes16or8);
  if (auto d = o.optional("combine_dtype")) m.combine_dtype = as_dtype(*d, kDtypes16or8);
  if (auto d = o.optional("expert_compute_dtype")) m.expert_compute_dtype = as_dtype(*d, kDtypes16or8);
  if (auto a = o.optional("all_to_all")) {
    auto names = a2a_registry().names();
    names.insert(names.begin(), "auto");
    m.all_to_all = a->as_choice(names);
  }
  o.finish();
  return m;
}

ScheduleConfig parse_schedule(const JsonValue& v) {
  auto o = v.as_object();
  ScheduleConfig s;
  if (auto ov = o.optional("overlap")) s.overlap = ov->as_enum<OverlapSchedule>(kOverlapScheduleNames);
  if (auto c = o.optional("comm_compute_units")) s.comm_compute_units = c->as_int(0, 100000);
  o.finish();
  return s;
}

MemoryConfig parse_memory(const JsonValue& v) {
  auto o = v.as_object();
  MemoryConfig m;
  if (auto d = o.optional("weight_dtype")) m.weight_dtype = as_dtype(*d, kDtypes16or8);
  if (auto d = o.optional("expert_weight_dtype")) m.expert_weight_dtype = as_dtype(*d, kDtypes16or8);
  if (auto d = o.optional("kv_cache_dtype")) m.kv_cache_dtype = as_dtype(*d, kDtypes16or8);
  if (auto d = o.optional("grad_dtype")) m.grad_dtype = as_dtype(*d, {Dtype::Bf16, Dtype::Fp32});
  if (auto z = o.optional("zero_stage")) m.zero_stage = z->as_int(0, 1);
  if (auto w = o.optional("workspace")) m.workspace_bytes = w->as_bytes();
  o.finish();
  return m;
}

Json resolved_json(const ExperimentConfig& e) {
  Json j;
  j["name"] = e.name;
  j["description"] = e.description;
  j["model"] = e.model.source_json;
  j["hardware"] = e.hardware.source_json;
  const TopologySpec& t = e.cluster.topology;
  j["cluster"] = {{"nodes", t.nodes}, {"devices_per_node", t.devices_per_node},
                  {"nics_per_node", t.nics_per_node}, {"topology", t.generator},
                  {"oversubscription", t.oversubscription}, {"spines", t.spines},
                  {"nodes_per_leaf", t.nodes_per_leaf}, {"network_model", network_model_name(e.cluster.network_model)}};
  if (t.peer_bandwidth_Bps > 0) j["cluster"]["peer_bandwidth_Bps"] = t.peer_bandwidth_Bps;
  if (e.cluster.network_model == NetworkModelKind::Flow) j["cluster"]["flow_tolerance"] = e.cluster.flow_tolerance;
  j["parallel"] = {{"expert_parallel", e.parallel.expert_parallel},
                   {"expert_tensor_parallel", e.parallel.expert_tensor_parallel},
                   {"attention_tensor_parallel", e.parallel.attention_tensor_parallel},
                   {"attention_data_parallel", e.parallel.attention_data_parallel},
                   {"pipeline_stages", e.parallel.pipeline_stages}};
  j["placement"] = {{"policy", e.placement.policy}, {"redundant_experts", e.placement.redundant_experts}};
  if (!e.placement.file.empty()) j["placement"]["file"] = e.placement.file_as_written;
  j["workload"] = {{"phase", phase_name(e.workload.phase)}, {"tokens_per_device", e.workload.tokens_per_device},
                   {"micro_batches", e.workload.micro_batches}};
  if (e.workload.phase == WorkloadPhase::Decode) j["workload"]["context_length"] = e.workload.context_length;
  else j["workload"]["sequence_length"] = e.workload.sequence_length;
  Json r = {{"source", e.routing.source}, {"seed", e.routing.seed}, {"group_limited", e.routing.group_limited}};
  if (e.routing.file.empty()) {
    r["distribution"] = e.routing.distribution;
    if (e.routing.distribution == "zipf") r["zipf_exponent"] = e.routing.zipf_exponent;
  } else {
    r["file"] = e.routing.file_as_written;
  }
  j["routing"] = r;
  j["moe"] = {{"capacity_factor", e.moe.capacity_factor ? Json(*e.moe.capacity_factor) : Json("none")},
              {"dispatch_mode", enum_name<DispatchMode>(kDispatchModeNames, e.moe.dispatch_mode)},
              {"drop_policy", enum_name<DropPolicy>(kDropPolicyNames, e.moe.drop_policy)},
              {"dispatch_dtype", dtype_name(e.moe.dispatch_dtype)}, {"combine_dtype", dtype_name(e.moe.combine_dtype)},
              {"expert_compute_dtype", dtype_name(e.moe.expert_compute_dtype)}, {"all_to_all", e.moe.all_to_all}};
  j["schedule"] = {{"overlap", overlap_name(e.schedule.overlap)},
                   {"comm_compute_units", e.schedule.comm_compute_units}};
  j["compute"] = {{"expert_backend", e.compute.expert_backend}, {"allow_extrapolation", e.compute.allow_extrapolation}};
  if (e.cost.price_per_device_hour > 0) j["cost"] = {{"price_per_device_hour", e.cost.price_per_device_hour}, {"source", e.cost.source}};
  j["memory"] = {{"weight_dtype", dtype_name(e.memory.weight_dtype)}, {"expert_weight_dtype", dtype_name(e.memory.expert_weight_dtype)},
                 {"kv_cache_dtype", dtype_name(e.memory.kv_cache_dtype)}, {"grad_dtype", dtype_name(e.memory.grad_dtype)},
                 {"zero_stage", e.memory.zero_stage}, {"workspace_bytes", e.memory.workspace_bytes}};
  return j;
}

}  // namespace

ExperimentConfig parse_experiment(const JsonDocument& doc) {
  auto o = doc.root().as_object();
  ExperimentConfig e;
  e.file = doc.root().file();
  e.name = o.required("name").as_string();
  if (auto d = o.optional("description")) e.description = d->as_string();
  e.model = resolve_model(o.required("model"), e.file);
  e.hardware = resolve_hardware(o.required("hardware"), e.file);
  e.cluster = parse_cluster(o.required("cluster"), e.hardware);
  e.parallel = parse_parallel(o.required("parallel"), e.cluster);
  if (auto p = o.optional("placement")) {
    auto po = p->as_object();
    if (auto n = po.optional("policy")) e.placement.policy = n->as_choice(placement_registry().names());
    if (auto r = po.optional("redundant_experts")) e.placement.redundant_experts = r->as_int(0, 1 << 20);
    if (auto f = po.optional("file")) {
      e.placement.file_as_written = f->as_string();
      e.placement.file = resolve_relative(e.placement.file_as_written, e.file);
      if (!std::filesystem::is_regular_file(e.placement.file)) f->fail("no such file: " + e.placement.file);
    }
    const auto& traits = placement_registry().find(e.placement.policy)->traits;
    if (traits.needs_file && e.placement.file.empty()) p->fail(fmt::format("placement policy \"{}\" needs \"file\"", e.placement.policy));
    po.finish();
    const int64_t slots = e.model.moe.num_experts + e.placement.redundant_experts;
    if (slots % e.parallel.expert_parallel != 0)
      p->fail(fmt::format("{} experts + {} redundant do not divide over expert_parallel {}", e.model.moe.num_experts,
                          e.placement.redundant_experts, e.parallel.expert_parallel));
    if (!traits.allows_redundancy && e.placement.redundant_experts > 0)
      p->fail(fmt::format("placement \"{}\" has no redundant experts; use a load-aware policy for redundant_experts > 0", e.placement.policy));
  } else if (e.model.moe.num_experts % e.parallel.expert_parallel != 0) {
    o.required("parallel").fail(fmt::format("{} experts do not divide over expert_parallel {}", e.model.moe.num_experts, e.parallel.expert_parallel));
  }
  e.workload = parse_workload(o.required("workload"));
  e.routing = parse_routing(o.required("routing"), e.file);
  if (auto m = o.optional("moe")) e.moe = parse_moe_run(*m);
  if (auto s = o.optional("schedule")) e.schedule = parse_schedule(*s);
  if (auto m = o.optional("memory")) e.memory = parse_memory(*m);
  if (auto c = o.optional("compute")) {
    auto co = c->as_object();
    if (auto b = co.optional("expert_backend")) e.compute.expert_backend = b->as_choice(expert_backend_registry().names());
    if (auto x = co.optional("allow_extrapolation")) e.compute.allow_extrapolation = x->as_bool();
    co.finish();
  }
  if (auto c = o.optional("cost")) {
    auto co = c->as_object();
    e.cost.price_per_device_hour = co.required("price_per_device_hour").as_number(0.0, 1e6);
    if (auto s = co.optional("source")) e.cost.source = s->as_string();
    co.finish();
  } else if (e.hardware.price_per_hour > 0) {
    e.cost.price_per_device_hour = e.hardware.price_per_hour;
    e.cost.source = "hardware profile " + e.hardware.name;
  }
  o.finish();
  if (e.schedule.overlap == OverlapSchedule::TwoMicroBatch && e.workload.micro_batches % 2 != 0)
    throw input_error(e.file, "$.workload.micro_batches", "the two-microbatch overlap schedule needs an even number of micro-batches");
  if (e.schedule.overlap == OverlapSchedule::FwdBwdOverlap && e.workload.phase != WorkloadPhase::Training)
    throw input_error(e.file, "$.schedule.overlap", "fwd-bwd-overlap pairs forward and backward chunks: it needs \"phase\": \"training\" (use two-microbatch for inference)");
  if (e.schedule.overlap == OverlapSchedule::FwdBwdOverlap && e.workload.micro_batches < 2)
    throw input_error(e.file, "$.workload.micro_batches", "the fwd-bwd-overlap schedule needs at least 2 micro-batches (it pairs micro-batch i's forward with i-1's backward)");
  if (e.schedule.comm_compute_units >= e.hardware.compute_units)
    throw input_error(e.file, "$.schedule.comm_compute_units", fmt::format("must be below the device's {} compute units", e.hardware.compute_units));
  const int64_t layers_per_stage = e.model.num_layers / e.parallel.pipeline_stages;
  if (layers_per_stage < 1)
    throw input_error(e.file, "$.parallel.pipeline_stages", fmt::format("more pipeline stages than the model's {} layers", e.model.num_layers));
  if (e.workload.phase != WorkloadPhase::Training && e.parallel.pipeline_stages > 1)
    throw input_error(e.file, "$.parallel.pipeline_stages", "pipeline stages are modelled for training only");
  e.resolved = resolved_json(e);
  return e;
}

ExperimentConfig load_experiment(const std::string& path, const std::vector<std::string>& overrides) {
  auto doc = JsonDocument::load_file(path);
  if (overrides.empty()) return parse_experiment(doc);
  Json j = doc.json();
  if (!j.is_object()) throw input_error(path, "$", "expected an object");
  for (const auto& o : overrides) apply_override(j, o, path);
  return parse_experiment(JsonDocument::from_json(std::move(j), path));
}

}  // namespace moesim
