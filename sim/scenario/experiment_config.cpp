#include "sim/scenario/experiment_config.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "sim/hardware/expert_backends.h"
#include "sim/io/input_file.h"
#include "sim/moe/placement.h"
#include "sim/network/a2a.h"
#include "sim/network/topology_registry.h"
#include "sim/scenario/config_fields.h"
#include "sim/scenario/data_paths.h"

namespace moesim {

namespace {

// Whether the file `v` names exists; a file that exists but cannot be read as one (a folder, a
// FIFO, a link loop, no permission, too large) is refused with v's JSON path.
bool named_file_exists(const JsonValue& v, const std::string& path) {
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  if (!exists && (!ec || ec == std::errc::no_such_file_or_directory)) return false;
  try {
    check_input_file(path, kMaxJsonFileBytes, "a JSON file");
  } catch (const InputError& e) {
    v.fail(e.what());
  }
  return true;
}

// Attention tensor parallelism splits the query heads evenly, and the KV heads evenly or (more GPUs
// than KV heads) replicates each over the same number of GPUs (vLLM QKVParallelLinear; SGLang).
void check_heads_split(ObjectReader& o, const AttentionConfig& a, int64_t tp) {
  if (tp == 1) return;
  if (a.num_heads % tp != 0)
    o.required("attention_tensor_parallel").fail(fmt::format("the model's {} attention heads do not split over attention_tensor_parallel {}", a.num_heads, tp));
  if (a.kind != AttentionKind::Mla && a.num_kv_heads % tp != 0 && tp % a.num_kv_heads != 0)
    o.required("attention_tensor_parallel").fail(fmt::format("the model's {} KV heads neither split over nor replicate evenly on attention_tensor_parallel {}", a.num_kv_heads, tp));
}

ModelConfig resolve_model(const JsonValue& v, const std::string& experiment_file) {
  if (v.is_object()) return parse_model(v);
  const std::string path = resolve_data_file(v.as_string(), "models", experiment_file);
  if (!named_file_exists(v, path)) v.fail(missing_data_file(v.as_string(), path, "models", "model"));
  return load_model_file(path);
}

HardwareProfile resolve_hardware(const JsonValue& v, const std::string& experiment_file) {
  if (v.is_object()) return parse_hardware(v);
  const std::string path = resolve_data_file(v.as_string(), "hw_profiles", experiment_file);
  if (!named_file_exists(v, path)) v.fail(missing_data_file(v.as_string(), path, "hw_profiles", "hardware profile"));
  return load_hardware_file(path);
}

bool has(const std::vector<std::string>& keys, const char* key) { return std::find(keys.begin(), keys.end(), key) != keys.end(); }

// A key the schema lists as optional that this experiment needs (`when`: why): refused when absent
// ("missing required key") or null (null elsewhere means "the default", and there is none here).
void require_key(ObjectReader& o, const std::vector<std::string>& keys, const char* key, const std::string& when) {
  if (has(keys, key)) return;
  const JsonValue v = o.required(key);
  if (v.is_null()) v.fail(fmt::format("expected a value ({}), got null", when));
}

// A key given where it has no effect is refused rather than ignored (`why`: what it applies to).
void refuse_key(ObjectReader& o, const std::vector<std::string>& keys, const char* key, const std::string& why) {
  if (has(keys, key)) o.required(key).fail(fmt::format("has no effect here: {}; leave it out (or set it to null)", why));
}

// The topology defaults to the generator for the device's scale-up fabric (default_topology),
// NICs to one per device.
void parse_cluster(const JsonValue& v, ExperimentConfig& e) {
  auto o = v.as_object();
  TopologySpec& t = e.cluster.topology;
  t.generator = default_topology(e.hardware.intra_node.fabric);
  const auto keys = read_section(o, "cluster", e);
  if (!has(keys, "nics_per_node")) t.nics_per_node = t.devices_per_node;
  if (e.cluster.network_model != NetworkModelKind::Flow)
    refuse_key(o, keys, "flow_tolerance", "it batches the completions of the flow network model; network_model is \"bottleneck\"");
  if (t.nodes > 1 && t.nics_per_node == 0) o.self().fail("a cluster of several nodes needs nics_per_node >= 1");
  if (t.nics_per_node > 0 && t.devices_per_node % t.nics_per_node != 0 && t.nics_per_node % t.devices_per_node != 0)
    o.self().fail(fmt::format("devices_per_node ({}) and nics_per_node ({}) must divide one another", t.devices_per_node, t.nics_per_node));
  o.finish();
}

void parse_parallel(const JsonValue& v, ExperimentConfig& e) {
  auto o = v.as_object();
  ParallelConfig& p = e.parallel;
  const auto keys = read_section(o, "parallel", e);
  const int64_t devices = e.cluster.devices(), per_stage = devices / p.pipeline_stages, devices_per_node = e.cluster.topology.devices_per_node;
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
  check_heads_split(o, e.model.attention, p.attention_tensor_parallel);
  if (e.model.num_moe_layers() == 0 && p.expert_parallel > 1)
    o.required("expert_parallel").fail(fmt::format("model {} has no MoE layer, so there are no experts to place over expert_parallel {}", e.model.name, p.expert_parallel));
  p.attention_data_parallel = per_stage / p.attention_tensor_parallel;
  if (has(keys, "attention_data_parallel") && o.required("attention_data_parallel").as_positive_int() != p.attention_data_parallel)
    o.required("attention_data_parallel")
        .fail(fmt::format("attention_data_parallel must be devices / (tensor parallel x pipeline stages) = {}", p.attention_data_parallel));
  o.finish();
}

void parse_placement(const JsonValue& v, ExperimentConfig& e) {
  auto o = v.as_object();
  read_section(o, "placement", e);
  const auto& traits = placement_registry().find(e.placement.policy)->traits;
  if (traits.needs_file && e.placement.file.empty()) v.fail(fmt::format("placement policy \"{}\" needs \"file\"", e.placement.policy));
  if (!traits.needs_file && !e.placement.file.empty())
    o.required("file").fail(fmt::format("has no effect here: placement policy \"{}\" reads no file", e.placement.policy));
  o.finish();
  const int64_t slots = e.model.moe.num_experts + e.placement.redundant_experts;
  if (slots % e.parallel.expert_parallel != 0)
    v.fail(fmt::format("{} experts + {} redundant do not divide over expert_parallel {}", e.model.moe.num_experts, e.placement.redundant_experts,
                       e.parallel.expert_parallel));
  // More copies of an expert than ranks would put two on one rank: at most E x (EP - 1) extra.
  if (e.placement.redundant_experts > e.model.moe.num_experts * (e.parallel.expert_parallel - 1))
    v.fail(fmt::format("{} redundant experts is more than one copy of each of the {} experts on every one of {} ranks allows ({})",
                       e.placement.redundant_experts, e.model.moe.num_experts, e.parallel.expert_parallel,
                       e.model.moe.num_experts * (e.parallel.expert_parallel - 1)));
  if (!traits.allows_redundancy && e.placement.redundant_experts > 0)
    v.fail(fmt::format("placement \"{}\" has no redundant experts; use a load-aware policy for redundant_experts > 0", e.placement.policy));
}

// Decode reads a context length; prefill and training a sequence length (their context).
void parse_workload(const JsonValue& v, ExperimentConfig& e) {
  auto o = v.as_object();
  WorkloadConfig& w = e.workload;
  const auto keys = read_section(o, "workload", e);
  if (w.phase == WorkloadPhase::Decode) {
    require_key(o, keys, "context_length", "required for decode");
    refuse_key(o, keys, "sequence_length", "decode generates one token per sequence and step; its KV-cache length is context_length");
    w.sequence_length = 1;
  } else {
    require_key(o, keys, "sequence_length", "required for prefill and training");
    refuse_key(o, keys, "context_length", "prefill and training attend over sequence_length; context_length is decode's");
    w.context_length = w.sequence_length;
  }
  o.finish();
}

// Sampled sources read a distribution (and its Zipf exponent); file sources a file.
void parse_routing(const JsonValue& v, ExperimentConfig& e) {
  auto o = v.as_object();
  const auto keys = read_section(o, "routing", e);
  if (routing_registry().find(e.routing.source)->traits.needs_file) {
    require_key(o, keys, "file", fmt::format("routing source \"{}\" reads a file", e.routing.source));
    for (const char* k : {"distribution", "zipf_exponent"})
      refuse_key(o, keys, k, fmt::format("routing source \"{}\" reads its routing from the file", e.routing.source));
    if (e.routing.source == "trace" && has(keys, "planned_layers"))
      o.required("planned_layers").fail("a trace replays each layer's own recorded tokens: every layer is planned; only sampled routing "
                                        "(synthetic, counts) may let one layer stand for others; leave it out (or set it to null)");
    if (e.routing.source == "trace") {
      refuse_key(o, keys, "seed", "a trace is replayed as recorded, nothing is drawn");
      refuse_key(o, keys, "group_limited", "a trace is replayed with the experts it recorded");
    }
  }
  if (e.model.moe.topk_groups >= e.model.moe.num_groups)
    refuse_key(o, keys, "group_limited", fmt::format("model {} lets a token use all of its {} expert group(s) (topk_groups {})", e.model.name,
                                                     e.model.moe.num_groups, e.model.moe.topk_groups));
  if (!routing_registry().find(e.routing.source)->traits.needs_file) {
    require_key(o, keys, "distribution", fmt::format("routing source \"{}\" samples from a distribution", e.routing.source));
    if (e.routing.distribution == "zipf") require_key(o, keys, "zipf_exponent", "required for the zipf distribution");
    else refuse_key(o, keys, "zipf_exponent", fmt::format("it applies to distribution \"zipf\", not \"{}\"", e.routing.distribution));
    if (has(keys, "file")) o.required("file").fail(fmt::format("routing source \"{}\" reads no file", e.routing.source));
  }
  o.finish();
}

void parse_moe_run(const JsonValue& v, ExperimentConfig& e) {
  auto o = v.as_object();
  const auto keys = read_section(o, "moe", e);
  if (e.moe.dispatch_mode == DispatchMode::Padded && !e.moe.capacity_factor) o.required("dispatch_mode").fail("padded dispatch needs a capacity_factor");
  if (!e.moe.capacity_factor) refuse_key(o, keys, "drop_policy", "with capacity_factor \"none\" no token is dropped");
  o.finish();
}

void parse_plain_section(const JsonValue& v, const std::string& section, ExperimentConfig& e) {
  auto o = v.as_object();
  const auto keys = read_section(o, section, e);
  if (section == "runtime" && e.runtime.framework == ServingFramework::None)
    for (const char* k : {"static_fraction", "cuda_graph"})
      refuse_key(o, keys, k, "runtime.framework is \"none\" (sglang or vllm size their memory pools with it)");
  if (section == "memory" && e.workload.phase != WorkloadPhase::Training)
    for (const char* k : {"grad_dtype", "zero_stage"})
      refuse_key(o, keys, k, "gradients and optimizer state are kept in training, not in prefill or decode");
  if (section == "memory" && e.workload.phase == WorkloadPhase::Training)
    refuse_key(o, keys, "kv_cache_dtype", "training keeps no KV cache");
  if (section == "compute" && expert_backend_registry().find(e.compute.expert_backend)->traits.kind != ExpertBackendKind::Measured)
    refuse_key(o, keys, "allow_extrapolation",
               fmt::format("it lets a named measured backend extrapolate; \"{}\" {}", e.compute.expert_backend,
                           e.compute.expert_backend == "auto" ? "extrapolates where it must, and says so" : "has no measured grid"));
  o.finish();
}

// What one step can cost to simulate: moesim samples and routes every (token, expert) assignment of
// every device and MoE layer (about 1e8 a second on 2 cores, measured 2026-12-05 on DeepSeek-V3
// prefill: 2,048 devices x 4,096 tokens x 2 micro-batches x top-8 x 58 layers = 7.8e9 in 77 s)
// and keeps per-device state per layer (about 0.3 MB a device there). Steps past these bounds
// would run for hours or exhaust memory; a representative slice of the cluster (the same EP
// layout on fewer nodes) gives the same per-device answers.
constexpr int64_t kMaxDevices = 65536;
constexpr double kMaxAssignmentsPerStep = 1e11;

void check_step_size(const ExperimentConfig& e) {
  const int64_t devices = e.cluster.devices();
  if (devices > kMaxDevices)
    throw input_error(e.file, "$.cluster.nodes", fmt::format("{} devices is more than the {} moesim simulates in one step; simulate a slice of the "
                                                             "cluster with the same expert-parallel layout (per-device results are the same)", devices, kMaxDevices));
  const double assignments = static_cast<double>(devices) * static_cast<double>(e.workload.tokens_per_device) *
                             static_cast<double>(e.workload.micro_batches) * static_cast<double>(e.model.moe.top_k) *
                             static_cast<double>(e.model.num_moe_layers());
  if (assignments > kMaxAssignmentsPerStep)
    throw input_error(e.file, "$.cluster.nodes", fmt::format("one step routes {:.2g} (token, expert) assignments, more than the {:.0e} moesim simulates "
                                                             "in one run (about {:.0f} minutes on 2 cores); use fewer nodes with the same "
                                                             "expert-parallel layout, or fewer tokens per device or micro-batches",
                                                             assignments, kMaxAssignmentsPerStep, assignments / 1e8 / 60.0));
}

}  // namespace

ExperimentConfig parse_experiment(const JsonDocument& doc) {
  auto o = doc.root().as_object();
  ExperimentConfig e;
  e.file = doc.root().file();
  o.declare({"name", "description", "model", "hardware", "cluster", "parallel", "placement", "workload", "routing", "moe", "schedule",
             "memory", "runtime", "compute", "cost"});
  e.name = o.required("name").as_string();
  if (auto d = o.optional("description")) e.description = d->as_string();
  e.model = resolve_model(o.required("model"), e.file);
  e.hardware = resolve_hardware(o.required("hardware"), e.file);
  parse_cluster(o.required("cluster"), e);
  parse_parallel(o.required("parallel"), e);
  if (auto p = o.optional("placement")) {
    parse_placement(*p, e);
  } else if (e.model.moe.num_experts % e.parallel.expert_parallel != 0) {
    o.required("parallel").fail(fmt::format("{} experts do not divide over expert_parallel {}", e.model.moe.num_experts, e.parallel.expert_parallel));
  }
  parse_workload(o.required("workload"), e);
  parse_routing(o.required("routing"), e);
  if (auto m = o.optional("moe")) parse_moe_run(*m, e);
  for (const char* section : {"schedule", "memory", "runtime", "compute", "cost"})
    if (auto s = o.optional(section)) parse_plain_section(*s, section, e);
  if (!o.has("cost") && e.hardware.price_per_hour > 0) {
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
  check_step_size(e);
  if (e.memory.recompute_full && e.workload.phase != WorkloadPhase::Training)
    throw input_error(e.file, "$.memory.recompute", "recomputation applies to training (backward recomputes the forward), not prefill or decode");
  if (e.runtime.framework != ServingFramework::None && e.workload.phase == WorkloadPhase::Training)
    throw input_error(e.file, "$.runtime.framework", "a serving engine's memory pools apply to prefill and decode, not training");
  if (e.schedule.comm_compute_units >= e.hardware.compute_units)
    throw input_error(e.file, "$.schedule.comm_compute_units", fmt::format("must be below the device's {} compute units", e.hardware.compute_units));
  const int64_t layers_per_stage = e.model.num_layers / e.parallel.pipeline_stages;
  if (layers_per_stage < 1)
    throw input_error(e.file, "$.parallel.pipeline_stages", fmt::format("more pipeline stages than the model's {} layers", e.model.num_layers));
  if (e.workload.phase != WorkloadPhase::Training && e.parallel.pipeline_stages > 1)
    throw input_error(e.file, "$.parallel.pipeline_stages", "pipeline stages are modelled for training only");
  e.resolved = resolved_experiment(e);
  return e;
}

ExperimentConfig load_experiment(const std::string& path, const std::vector<std::string>& overrides) {
  auto doc = JsonDocument::load_file(path);
  if (overrides.empty()) return parse_experiment(doc);
  check_override_order(overrides, "--set");
  Json j = doc.json();
  if (!j.is_object()) throw input_error(path, "$", "expected an object");
  for (const auto& o : overrides) apply_override(j, o, path);
  return parse_experiment(JsonDocument::from_json(std::move(j), path));
}

}  // namespace moesim
