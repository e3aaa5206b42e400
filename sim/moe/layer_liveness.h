// The transient memory of one layer's forward on one device, op by op: which buffers are alive
// while each op runs, and the peak under a schedule. Weights, KV cache, training state and the
// preallocated DeepEP buffers are resident and added by the caller (memory_model.h).
//
// Buffers of one micro-batch of T tokens on a device with attention TP `tp` (bytes; bf16
// activations, d / c = bytes per element of the dispatch / combine format, from the wire format):
//   carried through the layer: the residual stream T x H x 2; from the router on, the shared
//     experts' output T x H x 2 (added after combine).
//   attention: the normed input T x H x 2 and the output projection T x H x 2, plus
//     GQA/MHA  q, k, v  T x (heads + 2 kv_heads) x head_dim / tp x 2 and the output T x heads x head_dim / tp x 2;
//     MLA prefill (keys and values decompressed, as flash attention takes them): q and k
//              T x heads / tp x (nope + rope) x 2 each, the up-projected latent T x heads / tp x
//              (nope + v) x 2, the output T x heads / tp x v x 2 and the latent T x (kv_lora + rope) x 2;
//     MLA decode (absorbed weights): q in latent space T x heads / tp x (kv_lora + rope) x 2 and the
//              output T x heads / tp x (kv_lora + v) x 2.
//   router and shared experts: router logits T x E x 4 (fp32), top-k ids and weights T x K x 8,
//     the shared experts' gate/up output T x 2 S x 2 (S: their intermediate size, all of them).
//   dispatch: the quantised input T x H x d (send) and what arrives: R rows x (H x d + K x 8).
//   expert gate/up: the received rows (until the op ends), the grouped input C x H x d, and the
//     gate/up output C x 2 F x 2.
//   expert down: the activation output C x F x d and the down output C x H x 2.
//   combine: the expert outputs reduced per row R x H x c (send) and the combined output T x H x c.
// R (rows: one per token and device) and C (routed copies: one per token and local expert) are
// what the framework allocates: DeepEP's normal kernels return exactly the rows that arrived
// (deep_ep/buffers/legacy.py Buffer.dispatch, num_worst_tokens = 0, the CPU waits for the count),
// so R and C come from the replayed routing, the busiest micro-batch of the layer; the low-latency
// kernels return a tensor of fixed shape [local experts, EP x max tokens per rank, H], so
// R = C = local experts x EP x max tokens (the receive buffer is also the grouped GEMM's input).
//
// Schedules (sim/moe/workload.h OverlapSchedule):
//   none: one op at a time; the peak is the largest op.
//   two-microbatch (SGLang and DeepSeek's two-batch overlap): while one micro-batch computes
//     (attention, router, expert GEMMs) the other communicates (dispatch or combine), so the peak
//     is the largest sum of a compute op of one and a communication op of the other, each with
//     its own carried buffers. Each micro-batch is half the tokens, so the peak falls below one
//     batch of both unless the largest buffers sit in both kinds of op.
//   fwd-bwd-overlap (DualPipe-style training): likewise, a forward chunk's computation beside a
//     backward chunk's communication and the reverse, both taken at the forward's buffers.
//   A layer without communication (dense) under either: one micro-batch's op beside what the
//   other carries between ops.
#pragma once
#include <string>
#include <vector>

#include "sim/moe/model_config.h"
#include "sim/moe/workload.h"

namespace moesim {

struct LiveBytes {
  double activations = 0;  // activations and expert intermediates
  double a2a = 0;          // dispatch and combine send / receive tensors
  double total() const { return activations + a2a; }
};

struct OpLive {
  std::string op;  // "attention", "router and shared experts", "dispatch", "expert gate/up", "expert down", "combine", "dense FFN"
  bool comm = false;
  LiveBytes live;        // everything the micro-batch holds while the op runs
  double carried = 0;    // of which the micro-batch holds between ops (residual, shared experts' output)
};

struct LayerLivenessInput {
  const ModelConfig* model = nullptr;
  int64_t attention_tp = 1;
  int64_t expert_tp = 1;
  bool decode = false;             // MLA runs absorbed
  double tokens = 0;               // T: the micro-batch's tokens on this device
  double recv_rows = 0;            // R
  double recv_copies = 0;          // C
  double dispatch_elem_bytes = 2;  // d: dispatch format bytes per hidden element (fp8 with scales ~1.03)
  double combine_elem_bytes = 2;   // c
};

// The ops of one MoE layer and of one dense layer, in execution order.
std::vector<OpLive> moe_layer_liveness(const LayerLivenessInput& in);
std::vector<OpLive> dense_layer_liveness(const LayerLivenessInput& in);

struct PeakLive {
  std::string op;  // where it peaks: "expert gate/up", or for pairs "expert gate/up + dispatch of the other micro-batch"
  LiveBytes live;
};

// The peak of a layer's ops under `schedule` (every op is of one micro-batch of the same size).
PeakLive peak_liveness(const std::vector<OpLive>& ops, OverlapSchedule schedule);

}  // namespace moesim
