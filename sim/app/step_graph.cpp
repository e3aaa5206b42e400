// Builds one step's op graph: per pipeline stage, the forward layers of each micro-batch (and for
// training the backward layers, then gradient sync and the optimizer), on each device's compute
// stream and communication stream. Streams run their ops in issue order, so the schedule is the
// order in which ops are issued here:
//  - none: communication is issued on the compute stream; nothing overlaps.
//  - two-microbatch (DeepSeek inference): micro-batches in pairs; each layer's ops of the two are
//    interleaved, so one micro-batch's dispatch/combine runs beside the other's compute.
//  - fwd-bwd-overlap (training, in the spirit of DualPipe): after the first forward chunk, the
//    forward chunk of micro-batch i is paired with the backward chunk of micro-batch i-1, layer by
//    layer (forward layer j with backward layer n-1-j), issued as DualPipe overlaps them: backward
//    combine beside forward attention, forward dispatch beside backward experts, backward
//    dispatch beside forward experts, forward combine beside backward attention.
#include "sim/app/simulation.h"

namespace moesim {

void Simulation::build_step_graph() {
  const auto& m = cfg_.model;
  const int64_t D = cfg_.cluster.devices(), M = cfg_.workload.micro_batches;
  const bool training = cfg_.workload.phase == WorkloadPhase::Training;
  const OverlapSchedule schedule = cfg_.schedule.overlap;
  const bool overlap = schedule != OverlapSchedule::None;
  compute_stream_.resize(D);
  comm_stream_.resize(D);
  for (int64_t d = 0; d < D; ++d) {
    compute_stream_[d] = sched_.add_stream();
    comm_stream_[d] = overlap ? sched_.add_stream() : compute_stream_[d];
  }
  const SimTime shared_bwd = SimTime::from_ps(shared_.ps() * 2), dense_bwd = SimTime::from_ps(dense_.ps() * 2);
  const SimTime head_bwd = SimTime::from_ps(lm_head_.ps() * 2);

  for (int64_t stage = 0; stage < stages_.stages; ++stage) {
    const int64_t first = stage * stages_.devices_per_stage, last = first + stages_.devices_per_stage;
    std::vector<int32_t> comm_streams;
    for (int64_t d = first; d < last; ++d) comm_streams.push_back(comm_stream_[d]);
    std::vector<int64_t> layers;
    for (int64_t l = 0; l < m.num_layers; ++l)
      if (stages_.stage_of_layer[l] == stage) layers.push_back(l);
    const int64_t n_layers = static_cast<int64_t>(layers.size());
    const bool last_stage = stage == stages_.stages - 1;
    // prev[mb][d]: the op that the next op of micro-batch mb on device d waits for.
    std::vector<std::vector<int32_t>> prev(M, std::vector<int32_t>(D, -1));
    // The collective that the next part of (micro-batch, direction) waits for.
    std::vector<int32_t> pending_fwd(M, -1), pending_bwd(M, -1);
    auto info = [&](int64_t d, int64_t l, int64_t mb, OpKind k, bool bwd) {
      return OpInfo{static_cast<int32_t>(d), static_cast<int32_t>(stage), static_cast<int16_t>(l), static_cast<int16_t>(mb), k, bwd};
    };
    auto per_device = [&](int64_t mb, int64_t l, OpKind k, bool bwd, SimTime dur, int32_t dep) {
      for (int64_t d = first; d < last; ++d) prev[mb][d] = add(info(d, l, mb, k, bwd), {compute_stream_[d]}, dur, {dep, prev[mb][d]});
    };
    auto per_device_moe = [&](int64_t mb, int64_t l, bool bwd, double factor, int32_t dep) {
      for (int64_t d = first; d < last; ++d) {
        const SimTime dur = SimTime::from_ps(static_cast<int64_t>(static_cast<double>(moe_[l][mb].experts[d].ps()) * factor));
        prev[mb][d] = add(info(d, l, mb, OpKind::Experts, bwd), {compute_stream_[d]}, dur, {dep, prev[mb][d]});
      }
    };
    auto collective = [&](int64_t mb, int64_t l, OpKind k, bool bwd, SimTime dur) {
      std::vector<int32_t> deps;
      for (int64_t d = first; d < last; ++d) deps.push_back(prev[mb][d]);
      return add(info(-1, l, mb, k, bwd), comm_streams, dur, deps);
    };

    // One layer of one micro-batch in four parts, each on one stream: compute, comm, compute, comm
    // (forward: attention, dispatch, experts, combine; backward: combine gradient, experts,
    // dispatch gradient, attention). A dense layer is all compute, in part 0.
    auto forward_part = [&](int64_t mb, int64_t l, int part) {
      if (!m.layer_is_moe[l]) {
        if (part == 0) {
          per_device(mb, l, OpKind::Attention, false, attention_, -1);
          per_device(mb, l, OpKind::DenseFfn, false, dense_, -1);
        }
        return;
      }
      const MoePass& p = moe_[l][mb];
      if (part == 0) per_device(mb, l, OpKind::Attention, false, attention_ + router_, -1);
      if (part == 1) pending_fwd[mb] = collective(mb, l, OpKind::Dispatch, false, p.dispatch);
      if (part == 2) {
        if (shared_.ps() > 0) per_device(mb, l, OpKind::SharedExpert, false, shared_, -1);
        per_device_moe(mb, l, false, 1.0, pending_fwd[mb]);
      }
      if (part == 3) {
        const int32_t c = collective(mb, l, OpKind::Combine, false, p.combine);
        for (int64_t d = first; d < last; ++d) prev[mb][d] = c;
      }
    };
    auto backward_part = [&](int64_t mb, int64_t l, int part) {
      if (!m.layer_is_moe[l]) {
        if (part == 0) {
          per_device(mb, l, OpKind::DenseFfn, true, dense_bwd, -1);
          per_device(mb, l, OpKind::Attention, true, attention_bwd_, -1);
        }
        return;
      }
      const MoePass& p = moe_[l][mb];
      if (part == 0) pending_bwd[mb] = collective(mb, l, OpKind::Combine, true, p.combine_bwd);
      if (part == 1) {
        if (shared_.ps() > 0) per_device(mb, l, OpKind::SharedExpert, true, shared_bwd, -1);
        per_device_moe(mb, l, true, 2.0, pending_bwd[mb]);
      }
      if (part == 2) pending_bwd[mb] = collective(mb, l, OpKind::Dispatch, true, p.dispatch_bwd);
      if (part == 3) per_device(mb, l, OpKind::Attention, true, attention_bwd_ + router_, pending_bwd[mb]);
    };
    // Whole chunks (all of the stage's layers) of a group of micro-batches, layer by layer,
    // parts interleaved across the group (one micro-batch: plain sequential order).
    auto forward_chunk = [&](int64_t g0, int64_t g1) {
      for (int64_t l : layers)
        for (int part = 0; part < 4; ++part)
          for (int64_t mb = g0; mb < g1; ++mb) forward_part(mb, l, part);
      if (last_stage)
        for (int64_t mb = g0; mb < g1; ++mb) per_device(mb, m.num_layers, OpKind::LmHead, false, lm_head_, -1);
    };
    auto backward_chunk = [&](int64_t g0, int64_t g1) {
      if (last_stage)
        for (int64_t mb = g0; mb < g1; ++mb) per_device(mb, m.num_layers, OpKind::LmHead, true, head_bwd, -1);
      for (auto it = layers.rbegin(); it != layers.rend(); ++it)
        for (int part = 0; part < 4; ++part)
          for (int64_t mb = g0; mb < g1; ++mb) backward_part(mb, *it, part);
    };
    // The overlapped pair: forward chunk of f beside backward chunk of b.
    auto paired_chunks = [&](int64_t f, int64_t b) {
      if (last_stage) per_device(b, m.num_layers, OpKind::LmHead, true, head_bwd, -1);
      for (int64_t j = 0; j < n_layers; ++j) {
        const int64_t lf = layers[j], lb = layers[n_layers - 1 - j];
        backward_part(b, lb, 0);  // comm: combine gradient   | compute: forward attention
        forward_part(f, lf, 0);
        forward_part(f, lf, 1);   // comm: forward dispatch    | compute: backward experts
        backward_part(b, lb, 1);
        backward_part(b, lb, 2);  // comm: dispatch gradient   | compute: forward experts
        forward_part(f, lf, 2);
        forward_part(f, lf, 3);   // comm: forward combine     | compute: backward attention
        backward_part(b, lb, 3);
      }
      if (last_stage) per_device(f, m.num_layers, OpKind::LmHead, false, lm_head_, -1);
    };

    if (schedule == OverlapSchedule::FwdBwdOverlap) {
      forward_chunk(0, 1);
      for (int64_t mb = 1; mb < M; ++mb) paired_chunks(mb, mb - 1);
      backward_chunk(M - 1, M);
    } else {
      const int64_t group = schedule == OverlapSchedule::TwoMicroBatch ? 2 : 1;
      for (int64_t g0 = 0; g0 < M; g0 += group) {
        const int64_t g1 = std::min(M, g0 + group);
        forward_chunk(g0, g1);
        if (training) backward_chunk(g0, g1);
      }
    }
    if (training) {
      std::vector<int32_t> deps;
      for (int64_t mb = 0; mb < M; ++mb)
        for (int64_t d = first; d < last; ++d) deps.push_back(prev[mb][d]);
      std::vector<int32_t> streams = comm_streams;
      if (overlap)
        for (int64_t d = first; d < last; ++d) streams.push_back(compute_stream_[d]);
      const int32_t sync = add(info(-1, -1, 0, OpKind::GradSync, true), streams, grad_sync_, deps);
      for (int64_t d = first; d < last; ++d) add(info(d, -1, 0, OpKind::Optimizer, true), {compute_stream_[d]}, optimizer_, {sync});
    }
  }
}

}  // namespace moesim
