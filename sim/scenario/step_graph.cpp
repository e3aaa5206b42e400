#include "sim/scenario/step_graph.h"

#include <algorithm>

namespace moesim {

const char* op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::Attention: return "attention";
    case OpKind::DenseFfn: return "dense_ffn";
    case OpKind::SharedExpert: return "shared_expert";
    case OpKind::Experts: return "experts";
    case OpKind::Dispatch: return "dispatch";
    case OpKind::Combine: return "combine";
    case OpKind::LmHead: return "lm_head";
    case OpKind::GradSync: return "grad_sync";
    case OpKind::Optimizer: return "optimizer";
    case OpKind::MoeLocal: return "moe_local";
  }
  return "?";
}

namespace {

// Issues one pipeline stage's ops. A layer of one micro-batch is four parts, each on one stream:
// compute, comm, compute, comm (forward: attention and the MoE-local ops before dispatch,
// dispatch, experts, combine; backward: combine gradient, experts, dispatch gradient, the
// MoE-local ops and attention). A dense layer is all compute, in part 0. The MoE-local ops after
// combine (unpermute, residual) are compute too: forward, they open the next compute part (the
// next layer's part 0, or the LM head / the stage's end); backward, their gradient closes the
// compute part before the layer's combine gradient, so that every part stays one kind.
class StageBuilder {
 public:
  StageBuilder(const Scenario& sc, const LayerPassResult& pass, StepGraph& g, int64_t stage);
  void sequential(int64_t group, bool training);  // none (group 1) and two-microbatch (group 2)
  void fwd_bwd_overlap();
  void grad_sync_and_optimizer(const StepExtras& extras, bool overlap);

 private:
  OpInfo info(int64_t d, int64_t l, int64_t mb, OpKind k, bool bwd) const;
  int32_t add(const OpInfo& info, const std::vector<int32_t>& streams, SimTime duration, const std::vector<int32_t>& deps);
  // One op on device d's compute stream after dep and prev (negative: none).
  int32_t add_on_device(int64_t d, const OpInfo& info, SimTime duration, int32_t dep, int32_t prev);
  void per_device(int64_t mb, int64_t l, OpKind k, bool bwd, SimTime dur, int32_t dep);
  void per_device_experts(int64_t mb, int64_t l, bool bwd, double factor, int32_t dep);
  int32_t collective(int64_t mb, int64_t l, OpKind k, bool bwd, SimTime dur);
  void forward_part(int64_t mb, int64_t l, int part);
  void backward_part(int64_t mb, int64_t l, int part);
  void forward_chunk(int64_t g0, int64_t g1);
  void backward_chunk(int64_t g0, int64_t g1);
  void paired_chunks(int64_t f, int64_t b);
  void lm_head(int64_t mb, bool bwd);
  void after_combine_ops(int64_t mb, int64_t l, bool bwd);
  void flush_forward_after(int64_t mb);
  void backward_after_of_next(int64_t mb, int64_t l_below);
  int64_t layer_below(int64_t l) const;

  const ModelConfig& m_;
  const LayerPassResult& pass_;
  const DenseCosts& dense_;
  StepGraph& g_;
  int64_t stage_, first_, last_, M_;
  bool last_stage_;
  std::vector<int64_t> layers_;
  std::vector<int32_t> comm_streams_;
  std::vector<std::vector<int32_t>> prev_;  // [mb][device]: the op the next op of mb on the device waits for
  std::vector<int32_t> pending_fwd_, pending_bwd_;  // [mb]: the collective the next part waits for
  std::vector<int64_t> after_fwd_due_;    // [mb]: the MoE layer whose forward after-combine ops are due, -1
  std::vector<int64_t> after_bwd_issued_;  // [mb]: the MoE layer whose backward after-combine ops are issued, -1
};

StageBuilder::StageBuilder(const Scenario& sc, const LayerPassResult& pass, StepGraph& g, int64_t stage)
    : m_(sc.config().model), pass_(pass), dense_(pass.dense), g_(g), stage_(stage), M_(sc.config().workload.micro_batches) {
  const auto& st = sc.stages();
  first_ = stage * st.devices_per_stage;
  last_ = first_ + st.devices_per_stage;
  last_stage_ = stage == st.stages - 1;
  for (int64_t d = first_; d < last_; ++d) comm_streams_.push_back(g.comm_stream[d]);
  for (int64_t l = 0; l < m_.num_layers; ++l)
    if (st.stage_of_layer[l] == stage) layers_.push_back(l);
  prev_.assign(M_, std::vector<int32_t>(sc.config().cluster.devices(), -1));
  pending_fwd_.assign(M_, -1);
  pending_bwd_.assign(M_, -1);
  after_fwd_due_.assign(M_, -1);
  after_bwd_issued_.assign(M_, -1);
}

void StageBuilder::after_combine_ops(int64_t mb, int64_t l, bool bwd) {
  per_device(mb, l, OpKind::MoeLocal, bwd, bwd ? dense_.moe_after * 2 : dense_.moe_after, -1);
}

void StageBuilder::flush_forward_after(int64_t mb) {
  if (after_fwd_due_[mb] < 0) return;
  after_combine_ops(mb, after_fwd_due_[mb], false);
  after_fwd_due_[mb] = -1;
}

int64_t StageBuilder::layer_below(int64_t l) const {
  const auto it = std::find(layers_.begin(), layers_.end(), l);
  return it == layers_.end() || it == layers_.begin() ? -1 : *(it - 1);
}

// At the end of a backward compute part: the gradient of the after-combine ops of the MoE layer
// processed next (`l_below`), ahead of its combine gradient.
void StageBuilder::backward_after_of_next(int64_t mb, int64_t l_below) {
  if (l_below < 0 || !m_.layer_is_moe[l_below]) return;
  after_combine_ops(mb, l_below, true);
  after_bwd_issued_[mb] = l_below;
}

OpInfo StageBuilder::info(int64_t d, int64_t l, int64_t mb, OpKind k, bool bwd) const {
  return OpInfo{static_cast<int32_t>(d), static_cast<int32_t>(stage_), static_cast<int16_t>(l), static_cast<int16_t>(mb), k, bwd};
}

int32_t StageBuilder::add(const OpInfo& info, const std::vector<int32_t>& streams, SimTime duration, const std::vector<int32_t>& deps) {
  const int32_t id = g_.scheduler.add_op(streams, duration, deps);
  g_.ops.push_back(info);
  return id;
}

void StageBuilder::per_device(int64_t mb, int64_t l, OpKind k, bool bwd, SimTime dur, int32_t dep) {
  for (int64_t d = first_; d < last_; ++d) prev_[mb][d] = add_on_device(d, info(d, l, mb, k, bwd), dur, dep, prev_[mb][d]);
}

void StageBuilder::per_device_experts(int64_t mb, int64_t l, bool bwd, double factor, int32_t dep) {
  for (int64_t d = first_; d < last_; ++d) {
    const SimTime dur = SimTime::from_ps_truncated(static_cast<double>(pass_.moe[l][mb].experts[d].ps()) * factor);
    prev_[mb][d] = add_on_device(d, info(d, l, mb, OpKind::Experts, bwd), dur, dep, prev_[mb][d]);
  }
}

int32_t StageBuilder::add_on_device(int64_t d, const OpInfo& info, SimTime duration, int32_t dep, int32_t prev) {
  const int32_t stream[1] = {g_.compute_stream[d]};
  const int32_t deps[2] = {dep, prev};
  const int32_t id = g_.scheduler.add_op(stream, duration, deps);
  g_.ops.push_back(info);
  return id;
}

int32_t StageBuilder::collective(int64_t mb, int64_t l, OpKind k, bool bwd, SimTime dur) {
  std::vector<int32_t> deps;
  for (int64_t d = first_; d < last_; ++d) deps.push_back(prev_[mb][d]);
  return add(info(-1, l, mb, k, bwd), comm_streams_, dur, deps);
}

void StageBuilder::forward_part(int64_t mb, int64_t l, int part) {
  if (part == 0) flush_forward_after(mb);
  if (!m_.layer_is_moe[l]) {
    if (part == 0) {
      per_device(mb, l, OpKind::Attention, false, dense_.attention + dense_.eager_dense_layer, -1);
      per_device(mb, l, OpKind::DenseFfn, false, dense_.dense_ffn, -1);
    }
    return;
  }
  const MoePass& p = pass_.moe[l][mb];
  if (part == 0) {
    per_device(mb, l, OpKind::Attention, false, dense_.attention + dense_.eager_moe_layer, -1);
    per_device(mb, l, OpKind::MoeLocal, false, dense_.moe_before, -1);
  }
  if (part == 1) pending_fwd_[mb] = collective(mb, l, OpKind::Dispatch, false, p.dispatch);
  if (part == 2) {
    if (dense_.shared_expert.ps() > 0) per_device(mb, l, OpKind::SharedExpert, false, dense_.shared_expert, -1);
    per_device_experts(mb, l, false, 1.0, pending_fwd_[mb]);
  }
  if (part == 3) {
    const int32_t c = collective(mb, l, OpKind::Combine, false, p.combine);
    for (int64_t d = first_; d < last_; ++d) prev_[mb][d] = c;
    after_fwd_due_[mb] = l;
  }
}

void StageBuilder::backward_part(int64_t mb, int64_t l, int part) {
  const SimTime twice_dense = dense_.dense_ffn * 2, twice_shared = dense_.shared_expert * 2;
  if (!m_.layer_is_moe[l]) {
    if (part == 0) {
      per_device(mb, l, OpKind::DenseFfn, true, twice_dense, -1);
      per_device(mb, l, OpKind::Attention, true, dense_.attention_bwd, -1);
      backward_after_of_next(mb, layer_below(l));
    }
    return;
  }
  const MoePass& p = pass_.moe[l][mb];
  if (part == 0) {
    if (after_bwd_issued_[mb] != l) after_combine_ops(mb, l, true);  // the stage's first backward layer
    after_bwd_issued_[mb] = -1;
    pending_bwd_[mb] = collective(mb, l, OpKind::Combine, true, p.combine_bwd);
  }
  if (part == 1) {
    if (dense_.shared_expert.ps() > 0) per_device(mb, l, OpKind::SharedExpert, true, twice_shared, -1);
    per_device_experts(mb, l, true, 2.0, pending_bwd_[mb]);
  }
  if (part == 2) pending_bwd_[mb] = collective(mb, l, OpKind::Dispatch, true, p.dispatch_bwd);
  if (part == 3) {
    per_device(mb, l, OpKind::MoeLocal, true, dense_.moe_before * 2, pending_bwd_[mb]);
    per_device(mb, l, OpKind::Attention, true, dense_.attention_bwd, -1);
    backward_after_of_next(mb, layer_below(l));
  }
}

void StageBuilder::lm_head(int64_t mb, bool bwd) {
  if (!bwd) flush_forward_after(mb);
  if (last_stage_) per_device(mb, m_.num_layers, OpKind::LmHead, bwd, bwd ? dense_.lm_head * 2 : dense_.lm_head, -1);
  if (bwd && last_stage_ && !layers_.empty()) backward_after_of_next(mb, layers_.back());
}

// Whole chunks (all of the stage's layers) of a group of micro-batches, layer by layer, parts
// interleaved across the group (one micro-batch: plain sequential order).
void StageBuilder::forward_chunk(int64_t g0, int64_t g1) {
  for (int64_t l : layers_)
    for (int part = 0; part < 4; ++part)
      for (int64_t mb = g0; mb < g1; ++mb) forward_part(mb, l, part);
  for (int64_t mb = g0; mb < g1; ++mb) lm_head(mb, false);
}

void StageBuilder::backward_chunk(int64_t g0, int64_t g1) {
  for (int64_t mb = g0; mb < g1; ++mb) lm_head(mb, true);
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it)
    for (int part = 0; part < 4; ++part)
      for (int64_t mb = g0; mb < g1; ++mb) backward_part(mb, *it, part);
}

// The overlapped pair: forward chunk of f beside backward chunk of b.
void StageBuilder::paired_chunks(int64_t f, int64_t b) {
  const int64_t n = static_cast<int64_t>(layers_.size());
  lm_head(b, true);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t lf = layers_[j], lb = layers_[n - 1 - j];
    backward_part(b, lb, 0);  // comm: combine gradient   | compute: forward attention
    forward_part(f, lf, 0);
    forward_part(f, lf, 1);   // comm: forward dispatch    | compute: backward experts
    backward_part(b, lb, 1);
    backward_part(b, lb, 2);  // comm: dispatch gradient   | compute: forward experts
    forward_part(f, lf, 2);
    forward_part(f, lf, 3);   // comm: forward combine     | compute: backward attention
    backward_part(b, lb, 3);
  }
  lm_head(f, false);
}

void StageBuilder::sequential(int64_t group, bool training) {
  for (int64_t g0 = 0; g0 < M_; g0 += group) {
    const int64_t g1 = std::min(M_, g0 + group);
    forward_chunk(g0, g1);
    if (training) backward_chunk(g0, g1);
  }
}

void StageBuilder::fwd_bwd_overlap() {
  forward_chunk(0, 1);
  for (int64_t mb = 1; mb < M_; ++mb) paired_chunks(mb, mb - 1);
  backward_chunk(M_ - 1, M_);
}

void StageBuilder::grad_sync_and_optimizer(const StepExtras& extras, bool overlap) {
  std::vector<int32_t> deps;
  for (int64_t mb = 0; mb < M_; ++mb)
    for (int64_t d = first_; d < last_; ++d) deps.push_back(prev_[mb][d]);
  std::vector<int32_t> streams = comm_streams_;
  if (overlap)
    for (int64_t d = first_; d < last_; ++d) streams.push_back(g_.compute_stream[d]);
  const int32_t sync = add(info(-1, -1, 0, OpKind::GradSync, true), streams, extras.grad_sync, deps);
  for (int64_t d = first_; d < last_; ++d) add(info(d, -1, 0, OpKind::Optimizer, true), {g_.compute_stream[d]}, extras.optimizer, {sync});
}

}  // namespace

void build_step_graph(const Scenario& sc, const LayerPassResult& pass, const StepExtras& extras, StepGraph& g) {
  const auto& c = sc.config();
  const int64_t D = c.cluster.devices();
  const bool training = c.workload.phase == WorkloadPhase::Training;
  const OverlapSchedule schedule = c.schedule.overlap;
  const bool overlap = schedule != OverlapSchedule::None;
  g.compute_stream.resize(D);
  g.comm_stream.resize(D);
  for (int64_t d = 0; d < D; ++d) {
    g.compute_stream[d] = g.scheduler.add_stream();
    g.comm_stream[d] = overlap ? g.scheduler.add_stream() : g.compute_stream[d];
  }
  for (int64_t stage = 0; stage < sc.stages().stages; ++stage) {
    StageBuilder b(sc, pass, g, stage);
    if (schedule == OverlapSchedule::FwdBwdOverlap) b.fwd_bwd_overlap();
    else b.sequential(schedule == OverlapSchedule::TwoMicroBatch ? 2 : 1, training);
    if (training) b.grad_sync_and_optimizer(extras, overlap);
  }
}

}  // namespace moesim
