#include "sim/scenario/config_fields.h"

// Table rows leave the trailing members (resolved_key, required) at their defaults.
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif

#include <filesystem>

#include <fmt/format.h>

#include "sim/hardware/expert_backends.h"
#include "sim/io/input_file.h"
#include "sim/moe/placement.h"
#include "sim/network/a2a.h"
#include "sim/network/topology_registry.h"
#include "sim/scenario/data_paths.h"

namespace moesim {
namespace {

using Choices = std::function<std::vector<std::string>()>;
using Reader = std::function<void(const JsonValue&, ExperimentConfig&)>;
using Writer = std::function<std::optional<Json>(const ExperimentConfig&)>;

const std::vector<Dtype> kDtypes16or8 = {Dtype::Bf16, Dtype::Fp8};

Dtype as_dtype(const JsonValue& v, const std::vector<Dtype>& allowed) { return *parse_dtype(v.as_choice(dtype_names_of(allowed))); }

template <typename E>
Choices names_of(std::span<const EnumName<E>> table) {
  return [table] { return enum_names(table); };
}
Choices dtypes_of(const std::vector<Dtype>& allowed) {
  return [allowed] { return dtype_names_of(allowed); };
}

// A path in the experiment, relative to its file; it must be a regular file.
std::string existing_file(const JsonValue& v, const std::string& experiment_file, std::string& as_written) {
  as_written = v.as_string();
  const std::string path = resolve_relative(as_written, experiment_file);
  if (const std::string problem = input_file_problem(path); !problem.empty()) v.fail(fmt::format("{}: {}", path, problem));
  return path;
}

// A topology generator's parameter: refused when the chosen generator does not take it, else read
// as its ParamSpec says (type and range).
double generator_param(const JsonValue& v, const ExperimentConfig& e, const std::string& key) {
  const auto& gen = *topology_registry().find(e.cluster.topology.generator);
  for (const auto& p : gen.params) {
    if (p.key != key) continue;
    if (p.type == "integer") return static_cast<double>(v.as_int(static_cast<int64_t>(p.min), static_cast<int64_t>(p.max)));
    if (p.type == "bandwidth") return v.as_bandwidth();
    return v.as_number(p.min, p.max);
  }
  std::string takes;
  for (const auto& p : gen.params) takes += (takes.empty() ? "" : ", ") + p.key;
  v.fail(fmt::format("topology \"{}\" takes no \"{}\" (its parameters: {})", gen.name, key, takes.empty() ? "none" : takes));
}

std::vector<ConfigField> cluster_fields() {
  const char* gen = "generator parameter (moesim list topologies --json)";
  return {
      {"cluster", "nodes", "integer", "", "required", "nodes (1 to 100000)", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.cluster.topology.nodes = v.as_int(1, 100000); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.cluster.topology.nodes; }, "", true},
      {"cluster", "devices_per_node", "integer", "", "required", "devices (GPUs, NPUs) per node (1 to 1024)", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.cluster.topology.devices_per_node = v.as_int(1, 1024); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.cluster.topology.devices_per_node; }, "", true},
      {"cluster", "nics_per_node", "integer", "", "devices_per_node (one NIC per device)", "scale-out NICs per node (0 to 1024); fewer than devices: devices share a NIC; more: each device's port has the bandwidth of its NICs together", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.cluster.topology.nics_per_node = v.as_int(0, 1024); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.cluster.topology.nics_per_node; }},
      {"cluster", "topology", "choice", "", "the generator for the hardware's scale-up fabric", "topology generator (moesim list topologies)",
       [] { return topology_registry().names(); },
       [](const JsonValue& v, ExperimentConfig& e) { e.cluster.topology.generator = v.as_choice(topology_registry().names()); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.cluster.topology.generator; }},
      {"cluster", "oversubscription", "number", "", "1", std::string("rail-fat-tree, fat-tree: leaf downlink : uplink ratio; ") + gen, {},
       [](const JsonValue& v, ExperimentConfig& e) { e.cluster.topology.oversubscription = generator_param(v, e, "oversubscription"); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.cluster.topology.oversubscription; }},
      {"cluster", "spines", "integer", "", "0 (one per leaf, at most the ports of a leaf)", std::string("rail-fat-tree, fat-tree: spine switches; ") + gen, {},
       [](const JsonValue& v, ExperimentConfig& e) { e.cluster.topology.spines = static_cast<int64_t>(generator_param(v, e, "spines")); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.cluster.topology.spines; }},
      {"cluster", "nodes_per_leaf", "integer", "", "0 (the generator's)", std::string("rail-fat-tree, fat-tree: nodes under one leaf; ") + gen, {},
       [](const JsonValue& v, ExperimentConfig& e) { e.cluster.topology.nodes_per_leaf = static_cast<int64_t>(generator_param(v, e, "nodes_per_leaf")); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.cluster.topology.nodes_per_leaf; }},
      {"cluster", "peer_bandwidth", "bandwidth", "B/s", "scale-up bandwidth / (devices_per_node - 1)",
       std::string("hccs-mesh-roce: one peer link per direction (\"56 GB/s\"); ") + gen, {},
       [](const JsonValue& v, ExperimentConfig& e) { e.cluster.topology.peer_bandwidth_Bps = generator_param(v, e, "peer_bandwidth"); },
       [](const ExperimentConfig& e) -> std::optional<Json> {
         if (e.cluster.topology.peer_bandwidth_Bps > 0) return e.cluster.topology.peer_bandwidth_Bps;
         return std::nullopt;
       },
       "peer_bandwidth_Bps"},
      {"cluster", "network_model", "choice", "", "bottleneck", "bottleneck (per-port, fast) or flow (max-min fair progressive filling)",
       names_of(network_model_names()),
       [](const JsonValue& v, ExperimentConfig& e) { e.cluster.network_model = v.as_enum(network_model_names()); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return network_model_name(e.cluster.network_model); }},
      {"cluster", "flow_tolerance", "number", "", "0.001", "flow model: flows due within this share of each other finish together (0 to 0.1)", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.cluster.flow_tolerance = v.as_number(0.0, 0.1); },
       [](const ExperimentConfig& e) -> std::optional<Json> {
         if (e.cluster.network_model == NetworkModelKind::Flow) return e.cluster.flow_tolerance;
         return std::nullopt;
       }},
  };
}

std::vector<ConfigField> parallel_fields() {
  return {
      {"parallel", "expert_parallel", "integer", "", "required", "EP group size; groups are contiguous devices", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.parallel.expert_parallel = v.as_int(1, 1 << 20); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.parallel.expert_parallel; }, "", true},
      {"parallel", "attention_tensor_parallel", "integer", "", "1", "attention tensor parallelism (inside a node)", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.parallel.attention_tensor_parallel = v.as_int(1, 1024); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.parallel.attention_tensor_parallel; }},
      {"parallel", "expert_tensor_parallel", "integer", "", "1", "each expert's weights split over this many devices", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.parallel.expert_tensor_parallel = v.as_int(1, 1024); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.parallel.expert_tensor_parallel; }},
      {"parallel", "pipeline_stages", "integer", "", "1", "pipeline stages (training)", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.parallel.pipeline_stages = v.as_int(1, 1024); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.parallel.pipeline_stages; }},
      {"parallel", "attention_data_parallel", "integer", "", "derived", "devices / (attention tensor parallel x pipeline stages); checked if given",
       {}, [](const JsonValue& v, ExperimentConfig&) { v.as_positive_int(); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.parallel.attention_data_parallel; }},
  };
}

std::vector<ConfigField> placement_fields() {
  return {
      {"placement", "policy", "choice", "", "contiguous", "expert placement policy (moesim list placements)", [] { return placement_registry().names(); },
       [](const JsonValue& v, ExperimentConfig& e) { e.placement.policy = v.as_choice(placement_registry().names()); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.placement.policy; }},
      {"placement", "redundant_experts", "integer", "", "0", "extra expert slots for replicas (load-aware policies)", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.placement.redundant_experts = v.as_int(0, 1 << 20); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.placement.redundant_experts; }},
      {"placement", "file", "path", "", "", "policy file: SGLang physical_to_logical_map JSON, relative to the experiment", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.placement.file = existing_file(v, e.file, e.placement.file_as_written); },
       [](const ExperimentConfig& e) -> std::optional<Json> {
         if (e.placement.file.empty()) return std::nullopt;
         return e.placement.file_as_written;
       }},
  };
}

std::vector<ConfigField> workload_fields() {
  return {
      {"workload", "phase", "choice", "", "required", "training, prefill or decode", names_of<WorkloadPhase>(kWorkloadPhaseNames),
       [](const JsonValue& v, ExperimentConfig& e) { e.workload.phase = v.as_enum<WorkloadPhase>(kWorkloadPhaseNames); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return phase_name(e.workload.phase); }, "", true},
      {"workload", "tokens_per_device", "integer", "tokens", "required", "tokens per device (attention DP rank) per micro-batch", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.workload.tokens_per_device = v.as_int(1, 1 << 24); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.workload.tokens_per_device; }, "", true},
      {"workload", "micro_batches", "integer", "", "1", "micro-batches per step", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.workload.micro_batches = v.as_int(1, 4096); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.workload.micro_batches; }},
      {"workload", "sequence_length", "integer", "tokens", "required for prefill and training", "tokens per sequence (causal attention span)", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.workload.sequence_length = v.as_int(1, 1 << 24); },
       [](const ExperimentConfig& e) -> std::optional<Json> {
         if (e.workload.phase == WorkloadPhase::Decode) return std::nullopt;
         return e.workload.sequence_length;
       }},
      {"workload", "context_length", "integer", "tokens", "required for decode", "KV-cache length per sequence", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.workload.context_length = v.as_int(1, 1 << 24); },
       [](const ExperimentConfig& e) -> std::optional<Json> {
         if (e.workload.phase != WorkloadPhase::Decode) return std::nullopt;
         return e.workload.context_length;
       }},
  };
}

bool routing_has_file(const ExperimentConfig& e) { return routing_registry().find(e.routing.source)->traits.needs_file; }

std::vector<ConfigField> routing_fields() {
  return {
      {"routing", "source", "choice", "", "required", "where each token's top-k experts come from (moesim list routing)", [] { return routing_registry().names(); },
       [](const JsonValue& v, ExperimentConfig& e) { e.routing.source = v.as_choice(routing_registry().names()); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.routing.source; }, "", true},
      {"routing", "seed", "integer", "", "1", "seed of the counter-based random streams", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.routing.seed = static_cast<uint64_t>(v.as_int(0, INT64_C(1) << 53)); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.routing.seed; }},
      {"routing", "group_limited", "boolean", "", "true", "apply the model's group-limited routing to sampled routing", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.routing.group_limited = v.as_bool(); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.routing.group_limited; }},
      {"routing", "planned_layers", "integer", "", "all",
       "MoE layers drawn and planned per pipeline stage; each other MoE layer replays a planned one of like device imbalance (from "
       "a 1,024-token pilot draw); sampled routing only; faster by about layers / planned_layers, an approximation: docs/planned-layers.md",
       {},
       [](const JsonValue& v, ExperimentConfig& e) { e.routing.planned_layers = v.as_int(1, 1 << 20); },
       [](const ExperimentConfig& e) -> std::optional<Json> {
         if (e.routing.planned_layers == 0) return std::nullopt;
         return e.routing.planned_layers;
       }},
      {"routing", "distribution", "choice", "", "required for synthetic", "uniform, zipf, or deepep-bench (DeepEP's benchmark gate)",
       [] { return std::vector<std::string>{"uniform", "zipf", "deepep-bench"}; },
       [](const JsonValue& v, ExperimentConfig& e) { e.routing.distribution = v.as_choice({"uniform", "zipf", "deepep-bench"}); },
       [](const ExperimentConfig& e) -> std::optional<Json> {
         if (routing_has_file(e)) return std::nullopt;
         return e.routing.distribution;
       }},
      {"routing", "zipf_exponent", "number", "", "required for zipf", "Zipf exponent of expert popularity (0 to 10)", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.routing.zipf_exponent = v.as_number(0.0, 10.0); },
       [](const ExperimentConfig& e) -> std::optional<Json> {
         if (routing_has_file(e) || e.routing.distribution != "zipf") return std::nullopt;
         return e.routing.zipf_exponent;
       }},
      {"routing", "file", "path", "", "required for counts and trace", "expert-counts JSON or per-token .npz trace, relative to the experiment", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.routing.file = existing_file(v, e.file, e.routing.file_as_written); },
       [](const ExperimentConfig& e) -> std::optional<Json> {
         if (!routing_has_file(e)) return std::nullopt;
         return e.routing.file_as_written;
       }},
  };
}

void read_capacity_factor(const JsonValue& v, ExperimentConfig& e) {
  if (!v.is_string()) {
    e.moe.capacity_factor = v.as_number(0.01, 1000.0);
    return;
  }
  if (v.as_choice({"none"}) != "none") v.fail("expected a number or \"none\"");
  e.moe.capacity_factor.reset();
}

std::vector<std::string> a2a_choices() {
  auto names = a2a_registry().names();
  names.insert(names.begin(), "auto");
  return names;
}

std::vector<ConfigField> moe_fields() {
  return {
      {"moe", "capacity_factor", "number or \"none\"", "", "none (dropless)", "capacity per (source device, expert) = ceil(cf x tokens x top_k / experts)",
       {}, &read_capacity_factor,
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.moe.capacity_factor ? Json(*e.moe.capacity_factor) : Json("none"); }},
      {"moe", "dispatch_mode", "choice", "", "dropless", "dropless (actual tokens) or padded (full capacity slots)", names_of<DispatchMode>(kDispatchModeNames),
       [](const JsonValue& v, ExperimentConfig& e) { e.moe.dispatch_mode = v.as_enum<DispatchMode>(kDispatchModeNames); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return enum_name<DispatchMode>(kDispatchModeNames, e.moe.dispatch_mode); }},
      {"moe", "drop_policy", "choice", "", "arrival", "which assignments a full expert drops", names_of<DropPolicy>(kDropPolicyNames),
       [](const JsonValue& v, ExperimentConfig& e) { e.moe.drop_policy = v.as_enum<DropPolicy>(kDropPolicyNames); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return enum_name<DropPolicy>(kDropPolicyNames, e.moe.drop_policy); }},
      {"moe", "dispatch_dtype", "choice", "", "bf16", "dtype of dispatched tokens (fp8 carries one fp32 scale per 128 values)", dtypes_of(kDtypes16or8),
       [](const JsonValue& v, ExperimentConfig& e) { e.moe.dispatch_dtype = as_dtype(v, kDtypes16or8); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return dtype_name(e.moe.dispatch_dtype); }},
      {"moe", "combine_dtype", "choice", "", "bf16", "dtype of combined tokens", dtypes_of(kDtypes16or8),
       [](const JsonValue& v, ExperimentConfig& e) { e.moe.combine_dtype = as_dtype(v, kDtypes16or8); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return dtype_name(e.moe.combine_dtype); }},
      {"moe", "expert_compute_dtype", "choice", "", "bf16", "dtype of the expert GEMMs", dtypes_of(kDtypes16or8),
       [](const JsonValue& v, ExperimentConfig& e) { e.moe.expert_compute_dtype = as_dtype(v, kDtypes16or8); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return dtype_name(e.moe.expert_compute_dtype); }},
      {"moe", "all_to_all", "choice", "", "auto", "all-to-all algorithm (moesim list a2a); auto: the topology's", &a2a_choices,
       [](const JsonValue& v, ExperimentConfig& e) { e.moe.all_to_all = v.as_choice(a2a_choices()); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.moe.all_to_all; }},
      {"moe", "all_to_all_latency", "duration", "", "kernel floor",
       "fixed time of each dispatch and combine call; default: DeepEP kernels' measured floor (docs/comm-validation.md), else the profile's collective_latency",
       {}, [](const JsonValue& v, ExperimentConfig& e) { e.moe.all_to_all_latency = v.as_duration(); },
       [](const ExperimentConfig& e) -> std::optional<Json> {
         if (!e.moe.all_to_all_latency) return std::nullopt;
         return fmt::format("{} us", e.moe.all_to_all_latency->us());
       }},
  };
}

std::vector<ConfigField> schedule_fields() {
  return {
      {"schedule", "overlap", "choice", "", "none", "overlap schedule", names_of<OverlapSchedule>(kOverlapScheduleNames),
       [](const JsonValue& v, ExperimentConfig& e) { e.schedule.overlap = v.as_enum<OverlapSchedule>(kOverlapScheduleNames); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return overlap_name(e.schedule.overlap); }},
      {"schedule", "comm_compute_units", "integer", "SMs", "24", "compute units a communication kernel takes while overlapped; also the SMs DeepEP normal kernels run on (0: 24)", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.schedule.comm_compute_units = v.as_int(0, 100000); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.schedule.comm_compute_units; }},
  };
}

ConfigField memory_dtype(const char* key, const char* def, const char* description, Dtype MemoryConfig::*field, const std::vector<Dtype>& allowed) {
  return {"memory", key, "choice", "", def, description, dtypes_of(allowed),
          [field, allowed](const JsonValue& v, ExperimentConfig& e) { e.memory.*field = as_dtype(v, allowed); },
          [field](const ExperimentConfig& e) -> std::optional<Json> { return dtype_name(e.memory.*field); }};
}

std::vector<ConfigField> memory_fields() {
  return {
      memory_dtype("weight_dtype", "bf16", "attention, dense and shared-expert weights", &MemoryConfig::weight_dtype, kDtypes16or8),
      memory_dtype("expert_weight_dtype", "bf16", "routed-expert weights", &MemoryConfig::expert_weight_dtype, kDtypes16or8),
      memory_dtype("kv_cache_dtype", "bf16", "KV cache", &MemoryConfig::kv_cache_dtype, kDtypes16or8),
      memory_dtype("grad_dtype", "fp32", "gradients (training)", &MemoryConfig::grad_dtype, {Dtype::Bf16, Dtype::Fp32}),
      {"memory", "zero_stage", "integer", "", "1", "0 or 1: optimizer state sharded over data parallel", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.memory.zero_stage = v.as_int(0, 1); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.memory.zero_stage; }},
      {"memory", "recompute", "choice", "", "none",
       "training: none keeps every layer's activations for backward; full keeps each layer's input and recomputes the layer in backward (Megatron-LM --recompute-granularity full)",
       [] { return std::vector<std::string>{"none", "full"}; },
       [](const JsonValue& v, ExperimentConfig& e) { e.memory.recompute_full = v.as_choice({"none", "full"}) == "full"; },
       [](const ExperimentConfig& e) -> std::optional<Json> {
         if (e.workload.phase != WorkloadPhase::Training) return std::nullopt;
         return e.memory.recompute_full ? "full" : "none";
       }},
      {"memory", "workspace", "bytes", "B", "1 GiB", "framework workspace (cuBLAS, allocator slack), written with a unit (\"1 GiB\")", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.memory.workspace_bytes = v.as_bytes(); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.memory.workspace_bytes; }, "workspace_bytes"},
  };
}

std::vector<ConfigField> runtime_fields() {
  static const std::vector<std::string> frameworks = {"none", "sglang", "vllm"};
  return {
      {"runtime", "framework", "choice", "", "none",
       "serving engine whose memory pools the report applies: sglang (mem_fraction_static), vllm (gpu_memory_utilization); none: one ledger "
       "against the usable HBM",
       [] { return frameworks; },
       [](const JsonValue& v, ExperimentConfig& e) {
         const std::string f = v.as_choice(frameworks);
         e.runtime.framework = f == "sglang" ? ServingFramework::Sglang : f == "vllm" ? ServingFramework::Vllm : ServingFramework::None;
       },
       [](const ExperimentConfig& e) -> std::optional<Json> {
         return e.runtime.framework == ServingFramework::Sglang ? "sglang" : e.runtime.framework == ServingFramework::Vllm ? "vllm" : "none";
       }},
      {"runtime", "static_fraction", "number", "", "the framework's default",
       "share of the GPU's memory the engine fixes at start-up: SGLang's mem_fraction_static (default by TP size: 0.88 to 0.79), vLLM's "
       "gpu_memory_utilization (0.9)",
       {}, [](const JsonValue& v, ExperimentConfig& e) { e.runtime.static_fraction = v.as_number(0.01, 1.0); },
       [](const ExperimentConfig& e) -> std::optional<Json> {
         if (e.runtime.framework == ServingFramework::None) return std::nullopt;
         return e.runtime.static_fraction.value_or(default_static_fraction(e.runtime.framework, e.parallel.attention_tensor_parallel));
       }},
      {"runtime", "cuda_graph", "bytes", "B", "0 B", "memory the captured CUDA graphs hold, written with a unit (\"2 GiB\")", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.runtime.cuda_graph_bytes = v.as_bytes(); },
       [](const ExperimentConfig& e) -> std::optional<Json> {
         if (e.runtime.framework == ServingFramework::None) return std::nullopt;
         return e.runtime.cuda_graph_bytes;
       },
       "cuda_graph_bytes"},
  };
}

std::vector<ConfigField> compute_and_cost_fields() {
  return {
      {"compute", "expert_backend", "choice", "", "auto", "expert-block cost backend (moesim list backends)", [] { return expert_backend_registry().names(); },
       [](const JsonValue& v, ExperimentConfig& e) { e.compute.expert_backend = v.as_choice(expert_backend_registry().names()); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.compute.expert_backend; }},
      {"compute", "allow_extrapolation", "boolean", "", "false", "a named measured backend extrapolates beyond its grid instead of refusing", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.compute.allow_extrapolation = v.as_bool(); },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.compute.allow_extrapolation; }},
      {"compute", "launch_mode", "choice", "", "graph",
       "graph: each op costs its GPU time in a CUDA graph; eager: the host issues op after op (measured host times) and the GPU waits when it is slower",
       [] { return std::vector<std::string>{"graph", "eager"}; },
       [](const JsonValue& v, ExperimentConfig& e) { e.compute.launch_mode = v.as_choice({"graph", "eager"}) == "eager" ? LaunchMode::Eager : LaunchMode::Graph; },
       [](const ExperimentConfig& e) -> std::optional<Json> { return e.compute.launch_mode == LaunchMode::Eager ? "eager" : "graph"; }},
      {"cost", "price_per_device_hour", "number", "USD", "the hardware profile's price_per_hour", "price of one device-hour", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.cost.price_per_device_hour = v.as_number(0.0, 1e6); },
       [](const ExperimentConfig& e) -> std::optional<Json> {
         if (e.cost.price_per_device_hour > 0) return e.cost.price_per_device_hour;
         return std::nullopt;
       },
       "", true},
      {"cost", "source", "string", "", "", "where the price comes from", {},
       [](const JsonValue& v, ExperimentConfig& e) { e.cost.source = v.as_string(); },
       [](const ExperimentConfig& e) -> std::optional<Json> {
         if (e.cost.price_per_device_hour > 0) return e.cost.source;
         return std::nullopt;
       }},
  };
}

// The keys whose values are a registry's entries, and the command that lists them.
const std::pair<const char*, const char*> kRegistryChoices[] = {
    {"cluster.topology", "one of `moesim list topologies`"}, {"placement.policy", "one of `moesim list placements`"},
    {"routing.source", "one of `moesim list routing`"},      {"moe.all_to_all", "`auto` or one of `moesim list a2a`"},
    {"compute.expert_backend", "one of `moesim list backends`"}};

std::vector<ConfigField> build_fields() {
  std::vector<ConfigField> all;
  for (auto part : {cluster_fields(), parallel_fields(), placement_fields(), workload_fields(), routing_fields(), moe_fields(), schedule_fields(),
                    memory_fields(), runtime_fields(), compute_and_cost_fields()})
    for (auto& f : part) all.push_back(std::move(f));
  for (auto& f : all)
    for (const auto& [key, command] : kRegistryChoices)
      if (f.section + "." + f.key == key) f.choices_listed_by = command;
  return all;
}

}  // namespace

const std::vector<ConfigField>& config_fields() {
  static const std::vector<ConfigField> fields = build_fields();
  return fields;
}

std::vector<std::string> read_section(ObjectReader& o, const std::string& section, ExperimentConfig& e) {
  std::vector<std::string> read, section_keys;
  for (const auto& f : config_fields())
    if (f.section == section) section_keys.push_back(f.key);
  o.declare(section_keys);
  for (const auto& f : config_fields()) {
    if (f.section != section) continue;
    if (f.required) {
      f.read(o.required(f.key), e);
    } else if (auto v = o.optional(f.key)) {
      f.read(*v, e);
    } else {
      continue;
    }
    read.push_back(f.key);
  }
  return read;
}

namespace {

// A model or hardware file as the report echoes it: members given as null (null means "the
// default") are left out, since the default is what applied.
Json without_nulls(const Json& v) {
  if (v.is_object()) {
    Json out = Json::object();
    for (auto it = v.begin(); it != v.end(); ++it)
      if (!it->is_null()) out[it.key()] = without_nulls(*it);
    return out;
  }
  if (v.is_array()) {
    Json out = Json::array();
    for (const auto& x : v) out.push_back(without_nulls(x));
    return out;
  }
  return v;
}

}  // namespace

Json resolved_experiment(const ExperimentConfig& e) {
  Json j;
  j["name"] = e.name;
  j["description"] = e.description;
  j["model"] = without_nulls(e.model.source_json);
  j["hardware"] = without_nulls(e.hardware.source_json);
  for (const auto& f : config_fields()) {
    const auto value = f.write(e);
    if (value) j[f.section][f.resolved_key.empty() ? f.key : f.resolved_key] = *value;
  }
  return j;
}

Json config_fields_json() {
  Json out = Json::array();
  for (const auto& f : config_fields()) {
    Json j = {{"key", f.section + "." + f.key}, {"type", f.type}, {"unit", f.unit}, {"default", f.default_value}, {"description", f.description}};
    if (f.choices) j["choices"] = f.choices();
    out.push_back(std::move(j));
  }
  return out;
}

std::string config_fields_markdown() {
  std::string out = "| key | type | unit | default | meaning |\n| --- | --- | --- | --- | --- |\n";
  for (const auto& f : config_fields()) {
    std::string type = f.type;
    if (!f.choices_listed_by.empty()) {
      type = f.choices_listed_by;
    } else if (f.choices) {
      type.clear();
      for (const auto& c : f.choices()) type += (type.empty() ? "" : ", ") + ("`" + c + "`");
    }
    out += fmt::format("| `{}.{}` | {} | {} | {} | {} |\n", f.section, f.key, type, f.unit, f.default_value, f.description);
  }
  return out;
}

}  // namespace moesim
