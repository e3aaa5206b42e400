#include "sim/moe/layer_liveness.h"

#include <algorithm>

namespace moesim {

namespace {

constexpr double kBf16 = 2.0, kFp32 = 4.0, kIdAndWeight = 8.0;  // top-k: int32 id + fp32 weight

double num(int64_t v) { return static_cast<double>(v); }

// Attention's own tensors beyond the normed input and the output projection (header).
double attention_core_bytes(const LayerLivenessInput& in) {
  const auto& a = in.model->attention;
  const double T = in.tokens, heads = num(a.num_heads) / num(in.attention_tp);
  if (a.kind != AttentionKind::Mla) {
    const double kv_heads = num(std::max<int64_t>(1, a.num_kv_heads / in.attention_tp));
    return T * (heads + 2.0 * kv_heads + heads) * num(a.head_dim) * kBf16;
  }
  const double nope = num(a.qk_nope_head_dim), rope = num(a.qk_rope_head_dim), v = num(a.v_head_dim), lora = num(a.kv_lora_rank);
  if (in.decode) return T * heads * ((lora + rope) + (lora + v)) * kBf16;
  return T * (heads * (2.0 * (nope + rope) + (nope + v) + v) + (lora + rope)) * kBf16;
}

}  // namespace

std::vector<OpLive> moe_layer_liveness(const LayerLivenessInput& in) {
  const auto& m = *in.model;
  const double T = in.tokens, H = num(m.hidden_size), K = num(m.moe.top_k), E = num(m.moe.num_experts);
  const double F = num(m.moe.expert_intermediate_size) / num(in.expert_tp);
  const double S = num(m.moe.shared_expert_intermediate_size * m.moe.num_shared_experts);
  const double R = in.recv_rows, C = in.recv_copies, dq = in.dispatch_elem_bytes, cq = in.combine_elem_bytes;
  const double residual = T * H * kBf16;
  const double carried = residual + (S > 0 ? T * H * kBf16 : 0.0);
  const double recv = R * (H * dq + K * kIdAndWeight);
  std::vector<OpLive> ops;
  ops.push_back({"attention", false, {residual + 2.0 * T * H * kBf16 + attention_core_bytes(in), 0}, residual});
  ops.push_back({"router and shared experts", false,
                 {carried + T * H * kBf16 + T * E * kFp32 + T * K * kIdAndWeight + T * 2.0 * S * kBf16, 0}, carried});
  ops.push_back({"dispatch", true, {carried + T * K * kIdAndWeight, T * H * dq + recv}, carried});
  ops.push_back({"expert gate/up", false, {carried + C * H * dq + C * 2.0 * F * kBf16, recv}, carried});
  ops.push_back({"expert down", false, {carried + C * F * dq + C * H * kBf16, 0}, carried});
  ops.push_back({"combine", true, {carried, R * H * cq + T * H * cq}, carried});
  return ops;
}

std::vector<OpLive> dense_layer_liveness(const LayerLivenessInput& in) {
  const auto& m = *in.model;
  const double T = in.tokens, H = num(m.hidden_size), I = num(m.dense_intermediate_size) / num(in.attention_tp);
  const double residual = T * H * kBf16;
  std::vector<OpLive> ops;
  ops.push_back({"attention", false, {residual + 2.0 * T * H * kBf16 + attention_core_bytes(in), 0}, residual});
  ops.push_back({"dense FFN", false, {residual + T * H * kBf16 + T * 2.0 * I * kBf16 + T * I * kBf16 + T * H * kBf16, 0}, residual});
  return ops;
}

PeakLive peak_liveness(const std::vector<OpLive>& ops, OverlapSchedule schedule) {
  PeakLive best;
  if (schedule == OverlapSchedule::None) {
    for (const auto& o : ops)
      if (o.live.total() > best.live.total()) best = {o.op, o.live};
    return best;
  }
  const bool has_comm = std::any_of(ops.begin(), ops.end(), [](const OpLive& o) { return o.comm; });
  // Pairs each op of one micro-batch with the ops of the other it can run beside.
  for (const auto& a : ops)
    for (const auto& b : ops) {
      if (!has_comm || a.comm || !b.comm) continue;
      const LiveBytes pair{a.live.activations + b.live.activations, a.live.a2a + b.live.a2a};
      if (pair.total() > best.live.total()) best = {a.op + " + " + b.op + " of the other micro-batch", pair};  // named only when it wins
    }
  // A layer without communication (dense): one micro-batch computes while the other waits.
  if (best.op.empty()) {
    const PeakLive one = peak_liveness(ops, OverlapSchedule::None);
    double waiting = 0;
    for (const auto& o : ops) waiting = std::max(waiting, o.carried);
    best = {one.op + " beside the other micro-batch", {one.live.activations + waiting, one.live.a2a}};
  }
  return best;
}

}  // namespace moesim
