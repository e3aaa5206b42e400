// The ops one device runs for one transformer layer, in order, with the shapes that its measured
// op table (hw_profiles/<gpu>.ops.json, sim/hardware/op_table.h) is indexed by and the FLOPs and
// bytes of each for the roofline. The kernels behind each table op are in calibration/layer_ops.py;
// the layer below is what calibration/bench_transformer_layer.py runs, op for op:
//   attention  rms_norm; QKV projection (GQA/MHA: one GEMM [T, H] x [H, (hq + 2 hk) d / tp]; MLA:
//              the fused q_a/kv_a GEMM, rms_norm of both latents, the q_b GEMM, and in prefill the
//              kv_b GEMM); QK norm where the model has it; rotary on q and k; the attention core
//              (prefill: causal over sequences of min(sequence_length, T) tokens; decode: one query
//              per sequence against `context` cached tokens; MLA decode absorbed, with its two
//              per-head batched GEMMs); output projection; residual add
//   MoE, before dispatch  rms_norm; router GEMM [T, H] x [H, E]; top-k (softmax, or sigmoid
//              group-limited where the model has groups or a gate bias); permute of the T x k
//              copies into expert order; FP8 quantisation of them when dispatch or experts are FP8
//   MoE, after combine  weighted unpermute; residual add
//   shared experts, dense FFN: gate/up GEMM, SiLU*mul, down GEMM, residual add
//   LM head: final rms_norm and the [T, H] x [H, V / tp] GEMM
// Shapes are per device: heads and projection widths divided by the attention tensor
// parallelism `tp` (at least one KV head per device).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sim/base/dtype.h"
#include "sim/hardware/roofline.h"
#include "sim/moe/model_config.h"

namespace moesim {

// What an op is, for the report's per-kind breakdown.
enum class LayerOpKind : uint8_t {
  Norm, Projection, Rope, AttentionCore, Residual, Router, Permute, Unpermute, Quantisation, SharedExpert, DenseFfn, LmHead
};
const char* layer_op_kind_name(LayerOpKind k);
inline constexpr int kLayerOpKinds = 12;

// Where in the layer it runs (the step graph places each block).
enum class LayerBlock : uint8_t { Attention, MoeBeforeDispatch, MoeAfterCombine, SharedExpert, DenseFfn, LmHead };

struct LayerOp {
  LayerOpKind kind = LayerOpKind::Norm;
  LayerBlock block = LayerBlock::Attention;
  std::string name;            // e.g. "q_b projection"
  std::string table_op;        // the op table's op: "gemm", "rms_norm", "attn_decode", ...
  std::vector<double> coords;  // one value per axis of that op (op_table.h)
  OpCost roofline;             // FLOPs and HBM bytes, for the roofline fallback and the transfer rule
};

struct LayerShape {
  int64_t tokens = 1;            // T: tokens per device in this micro-batch
  bool decode = false;
  int64_t sequence_length = 1;   // prefill: tokens per sequence (causal span)
  int64_t context = 0;           // decode: cached tokens per sequence
  int64_t tensor_parallel = 1;   // attention TP
  Dtype weight_dtype = Dtype::Bf16;     // attention, dense and shared weights
  double act_bytes = 2;          // activations
  double kv_bytes = 2;           // KV cache
  bool quantise_dispatch = false;  // FP8 dispatch or FP8 experts: tokens are quantised before dispatch
  int64_t lm_head_tokens = 0;    // tokens whose logits are computed (0 = no LM head op)
};

std::vector<LayerOp> attention_ops(const ModelConfig& m, const LayerShape& s);
std::vector<LayerOp> moe_local_ops(const ModelConfig& m, const LayerShape& s);  // before dispatch, after combine
std::vector<LayerOp> swiglu_mlp_ops(const ModelConfig& m, const LayerShape& s, int64_t intermediate, LayerOpKind kind,
                                    LayerBlock block, const std::string& what);
std::vector<LayerOp> lm_head_ops(const ModelConfig& m, const LayerShape& s);
// The FLOPs and HBM bytes of one table op at its coordinates (the axes of op_table.h, in order),
// bf16 activations: what the roofline fallback and the transfer rule use for `moesim cost op`.
// Throws InputError for an unknown op or the wrong number of coordinates.
OpCost table_op_work(const std::string& table_op, const std::vector<double>& coords);

// `copies` token copies spread as evenly as possible over `experts` experts (the first
// copies % experts get one more; with fewer copies than experts, the rest get none).
std::vector<int64_t> even_counts(int64_t copies, int64_t experts);

// The GEMM Y[M, N] = X[M, K] . W[N, K]^T as a layer op.
LayerOp gemm_op(LayerOpKind kind, LayerBlock block, const std::string& name, int64_t M, int64_t N, int64_t K, Dtype dtype,
                double weight_bytes, double act_bytes);

}  // namespace moesim
