// The registry of routing-data importers (see importers.h) and the writer of their results.
#include "sim/import/importers.h"

namespace moesim {
namespace {

Registry<ImportFunction> build() {
  Registry<ImportFunction> r;
  r.add({"sglang-counts",
         "SGLang expert-distribution logical_count JSON, [layers][experts] or per step [steps][layers][experts] "
         "(summed) -> counts JSON; needs --model",
         "SGLang expert-distribution recorder, --expert-distribution-recorder-mode stat (the file "
         "--init-expert-location loads)",
         &import_sglang_counts});
  r.add({"mixtral-jsonl",
         "per-(token, layer) JSONL {dataset, problem_id, layer, experts, gating_probs, token_idx|token_pos} -> trace "
         "with gate weights; --missing drop|sample",
         "vLLM routing recorder of github.com/Mario928/speculative-moe (Mixtral-8x7B-Instruct)", &import_mixtral_jsonl});
  r.add({"olmoe-counts",
         "OLMoE routing-analysis counts JSON {model, num_experts, top_k, layers, tokens, expert_counts, "
         "crosslayer_pair_counts} -> counts JSON with pair_counts",
         "allenai/OLMoE scripts/routing_output (Muennighoff et al., OLMoE, arXiv:2409.02060)", &import_olmoe_counts});
  r.add({"switch-counts",
         "per-layer {expert: count} JSON {num_experts, layers, expert_usage_by_layer} -> counts JSON, top-1",
         "google/switch-base-128 statistics of github.com/cyanmishra92/specMoE (Fedus et al., Switch Transformers, "
         "arXiv:2101.03961)",
         &import_switch_counts});
  r.add({"megatron-jsonl",
         "router_trace_rank{r}.jsonl, one line per (step, layer): {step, stage, block, layer, rank, num_tokens, topk, "
         "top_indices}; IN a file or a folder of rank files -> trace; needs --model and --experts",
         "Megatron-Core MoE router tracer, --moe-routing-trace-path", &import_megatron_jsonl});
  r.add({"vllm",
         "routed experts int [tokens, moe_layers, top_k] as .npy, or JSON {\"routed_experts\": [...]} -> trace; needs "
         "--model and --experts",
         "vLLM --enable-return-routed-experts (routed_experts of the request output)", &import_vllm});
  r.add({"trtllm",
         "folder with meta_info.json and rank{r}.safetensors of per-expert counts keyed \"{iter}_{layer}\", summed over "
         "iterations and ranks -> counts JSON; needs --model",
         "TensorRT-LLM ExpertStatistic, EXPERT_STATISTIC_PATH with EXPERT_STATISTIC_ITER_RANGE (read by its "
         "wide-EP load balancer scripts)",
         &import_trtllm});
  return r;
}

}  // namespace

const Registry<ImportFunction>& importer_registry() {
  static const Registry<ImportFunction> registry = build();
  return registry;
}

void write_imported(const std::string& out, const Imported& result) {
  if (result.is_trace) write_routing_trace(out, result.trace);
  else write_expert_counts(out, result.counts);
}

}  // namespace moesim
