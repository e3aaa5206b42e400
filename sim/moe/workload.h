// What one simulated step runs: the phase (training, prefill, decode), the tokens each device
// (attention data-parallel rank) holds per micro-batch, how many micro-batches, the sequence or
// context length; and the overlap schedule that interleaves them (sim/scenario/step_graph.h says
// how each is issued). Read from the experiment's `workload` and `schedule` sections.
#pragma once
#include <array>
#include <cstdint>
#include <span>

#include "sim/base/enum_table.h"

namespace moesim {

enum class WorkloadPhase { Training, Prefill, Decode };

struct WorkloadConfig {
  WorkloadPhase phase = WorkloadPhase::Prefill;
  int64_t tokens_per_device = 4096;  // per micro-batch, per attention-DP rank
  int64_t micro_batches = 1;
  int64_t sequence_length = 4096;    // prefill/training: tokens per sequence (causal attention span)
  int64_t context_length = 4096;     // decode: KV-cache length per sequence
};

// none | two-microbatch (DeepSeek inference) | fwd-bwd-overlap (training, DualPipe-style pairs of a
// forward and a backward chunk).
enum class OverlapSchedule { None, TwoMicroBatch, FwdBwdOverlap };

struct ScheduleConfig {
  OverlapSchedule overlap = OverlapSchedule::None;
  int64_t comm_compute_units = 24;  // SMs a communication kernel takes from compute while overlapped
};

inline constexpr std::array<EnumName<WorkloadPhase>, 3> kWorkloadPhaseNames = {
    {{WorkloadPhase::Training, "training"}, {WorkloadPhase::Prefill, "prefill"}, {WorkloadPhase::Decode, "decode"}}};
inline constexpr std::array<EnumName<OverlapSchedule>, 3> kOverlapScheduleNames = {
    {{OverlapSchedule::None, "none"}, {OverlapSchedule::TwoMicroBatch, "two-microbatch"}, {OverlapSchedule::FwdBwdOverlap, "fwd-bwd-overlap"}}};

inline const char* phase_name(WorkloadPhase p) { return enum_name<WorkloadPhase>(kWorkloadPhaseNames, p); }
inline const char* overlap_name(OverlapSchedule s) { return enum_name<OverlapSchedule>(kOverlapScheduleNames, s); }

}  // namespace moesim
