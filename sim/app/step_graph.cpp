// Builds one step's op graph: per pipeline stage, per group of micro-batches (one, or two
// interleaved under the two-microbatch overlap schedule), the forward layers (and for training
// the backward layers, then gradient sync and the optimizer), on each device's compute stream and
// communication stream. Without overlap, communication is issued on the compute stream, so
// nothing overlaps; with it, one micro-batch's dispatch/combine runs beside the other's compute.
#include "sim/app/simulation.h"

namespace moesim {

void Simulation::build_step_graph() {
  const auto& m = cfg_.model;
  const int64_t D = cfg_.cluster.devices(), M = cfg_.workload.micro_batches;
  const bool training = cfg_.workload.phase == WorkloadPhase::Training;
  const bool overlap = cfg_.schedule.overlap == OverlapSchedule::TwoMicroBatch;
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
    const bool last_stage = stage == stages_.stages - 1;
    // prev[mb][d]: the op that the next op of micro-batch mb on device d waits for.
    std::vector<std::vector<int32_t>> prev(M, std::vector<int32_t>(D, -1));
    std::vector<int32_t> all_last;
    const int64_t group = overlap ? 2 : 1;
    auto info = [&](int64_t d, int64_t l, int64_t mb, OpKind k, bool bwd) {
      return OpInfo{static_cast<int32_t>(d), static_cast<int32_t>(stage), static_cast<int16_t>(l), static_cast<int16_t>(mb), k, bwd};
    };
    auto per_device = [&](int64_t mb, int64_t l, OpKind k, bool bwd, SimTime dur, const std::vector<int32_t>* deps_all) {
      for (int64_t d = first; d < last; ++d) {
        std::vector<int32_t> deps = deps_all ? *deps_all : std::vector<int32_t>{prev[mb][d]};
        prev[mb][d] = add(info(d, l, mb, k, bwd), {compute_stream_[d]}, dur, deps);
      }
    };
    auto per_device_moe = [&](int64_t mb, int64_t l, OpKind k, bool bwd, double factor, int32_t dep) {
      for (int64_t d = first; d < last; ++d) {
        const SimTime dur = SimTime::from_ps(static_cast<int64_t>(static_cast<double>(moe_[l][mb].experts[d].ps()) * factor));
        prev[mb][d] = add(info(d, l, mb, k, bwd), {compute_stream_[d]}, dur, {dep, prev[mb][d]});
      }
    };
    auto collective = [&](int64_t mb, int64_t l, OpKind k, bool bwd, SimTime dur) {
      std::vector<int32_t> deps;
      for (int64_t d = first; d < last; ++d) deps.push_back(prev[mb][d]);
      return add(info(-1, l, mb, k, bwd), comm_streams, dur, deps);
    };

    for (int64_t g0 = 0; g0 < M; g0 += group) {
      const int64_t g1 = std::min(M, g0 + group);
      // Forward.
      for (int64_t l : layers) {
        if (!m.layer_is_moe[l]) {
          for (int64_t mb = g0; mb < g1; ++mb) {
            per_device(mb, l, OpKind::Attention, false, attention_, nullptr);
            per_device(mb, l, OpKind::DenseFfn, false, dense_, nullptr);
          }
          continue;
        }
        for (int64_t mb = g0; mb < g1; ++mb) per_device(mb, l, OpKind::Attention, false, attention_ + router_, nullptr);
        std::vector<int32_t> dispatch(M, -1);
        for (int64_t mb = g0; mb < g1; ++mb) dispatch[mb] = collective(mb, l, OpKind::Dispatch, false, moe_[l][mb].dispatch);
        for (int64_t mb = g0; mb < g1; ++mb) {
          if (shared_.ps() > 0) per_device(mb, l, OpKind::SharedExpert, false, shared_, nullptr);
          per_device_moe(mb, l, OpKind::Experts, false, 1.0, dispatch[mb]);
          const int32_t c = collective(mb, l, OpKind::Combine, false, moe_[l][mb].combine);
          for (int64_t d = first; d < last; ++d) prev[mb][d] = c;
        }
      }
      if (last_stage)
        for (int64_t mb = g0; mb < g1; ++mb) per_device(mb, m.num_layers, OpKind::LmHead, false, lm_head_, nullptr);
      if (!training) continue;
      // Backward, layers in reverse.
      if (last_stage)
        for (int64_t mb = g0; mb < g1; ++mb) per_device(mb, m.num_layers, OpKind::LmHead, true, head_bwd, nullptr);
      for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
        const int64_t l = *it;
        if (!m.layer_is_moe[l]) {
          for (int64_t mb = g0; mb < g1; ++mb) {
            per_device(mb, l, OpKind::DenseFfn, true, dense_bwd, nullptr);
            per_device(mb, l, OpKind::Attention, true, attention_bwd_, nullptr);
          }
          continue;
        }
        std::vector<int32_t> combine_grad(M, -1);
        for (int64_t mb = g0; mb < g1; ++mb) combine_grad[mb] = collective(mb, l, OpKind::Combine, true, moe_[l][mb].combine_bwd);
        std::vector<int32_t> dispatch_grad(M, -1);
        for (int64_t mb = g0; mb < g1; ++mb) {
          if (shared_.ps() > 0) per_device(mb, l, OpKind::SharedExpert, true, shared_bwd, nullptr);
          per_device_moe(mb, l, OpKind::Experts, true, 2.0, combine_grad[mb]);
          dispatch_grad[mb] = collective(mb, l, OpKind::Dispatch, true, moe_[l][mb].dispatch_bwd);
        }
        for (int64_t mb = g0; mb < g1; ++mb) {
          std::vector<int32_t> deps{dispatch_grad[mb]};
          for (int64_t d = first; d < last; ++d) {
            deps.push_back(prev[mb][d]);
            prev[mb][d] = add(info(d, l, mb, OpKind::Attention, true), {compute_stream_[d]}, attention_bwd_ + router_, deps);
            deps.pop_back();
          }
        }
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
