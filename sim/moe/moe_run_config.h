// How MoE dispatch behaves in a run: capacity factor (none = dropless), dropless or padded
// dispatch, which tokens a full expert drops, the dtypes of dispatch, combine and expert GEMMs,
// and the all-to-all algorithm ("auto" or a name in a2a_registry()). The experiment's `moe` section.
#pragma once
#include <array>
#include <optional>
#include <string>

#include "sim/base/dtype.h"
#include "sim/base/enum_table.h"
#include "sim/engine/sim_time.h"

namespace moesim {

enum class DispatchMode { Dropless, Padded };
enum class DropPolicy { Arrival, LowestWeight };

inline constexpr std::array<EnumName<DispatchMode>, 2> kDispatchModeNames = {{{DispatchMode::Dropless, "dropless"}, {DispatchMode::Padded, "padded"}}};
inline constexpr std::array<EnumName<DropPolicy>, 2> kDropPolicyNames = {{{DropPolicy::Arrival, "arrival"}, {DropPolicy::LowestWeight, "lowest-weight"}}};

struct MoeRunConfig {
  std::optional<double> capacity_factor;  // none = dropless
  DispatchMode dispatch_mode = DispatchMode::Dropless;
  DropPolicy drop_policy = DropPolicy::Arrival;
  Dtype dispatch_dtype = Dtype::Bf16;        // bf16 | fp8
  Dtype combine_dtype = Dtype::Bf16;
  Dtype expert_compute_dtype = Dtype::Bf16;  // dtype of expert GEMMs (bf16 | fp8)
  // All-to-all algorithm (a2a_registry()); "auto": resolve_a2a() in sim/network/a2a_wire.h.
  std::string all_to_all = "auto";
  // Fixed time of each dispatch and combine call; none: the kernel's measured floor for DeepEP's
  // kernels (sim/network/comm_kernel.h), else the hardware profile's collective_latency.
  std::optional<SimTime> all_to_all_latency;
};

}  // namespace moesim
