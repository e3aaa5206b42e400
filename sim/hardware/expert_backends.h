// The expert-block cost backends, registered by name (`moesim list backends`): "auto" (the
// device's measured table, PyTorch's grouped GEMM first where it was measured for the dtype, else
// the cuBLAS grouped block, extrapolated beyond the grid; the roofline without a table),
// "roofline", and the measured kernels of hw_profiles/<gpu>.calibration.json. DeviceCostModel
// (device_cost.h) reads the traits; nothing else looks at the names.
#pragma once
#include <cstddef>

#include "sim/base/registry.h"

namespace moesim {

enum class ExpertBackendKind { Auto, Roofline, Measured };

struct ExpertBackendTraits {
  ExpertBackendKind kind = ExpertBackendKind::Measured;
  int auto_preference = 0;  // Measured: the order "auto" tries them in (lower first)
};

using ExpertBackendRegistry = Registry<std::nullptr_t, ExpertBackendTraits>;
const ExpertBackendRegistry& expert_backend_registry();

}  // namespace moesim
