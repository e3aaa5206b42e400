// The roofline cost of one kernel (or a fused group of kernels) on a device: the larger of its
// compute time at the achievable fraction of peak FLOP/s for its dtype and its memory time at the
// achievable fraction of HBM bandwidth, plus a launch cost per kernel. It never reports less than
// the datasheet's physical limit (efficiencies are at most 1). Used until measured tables exist.
#pragma once
#include <cstdint>
#include <vector>

#include "sim/base/dtype.h"
#include "sim/engine/sim_time.h"
#include "sim/hardware/hardware_profile.h"

namespace moesim {

struct OpCost {
  double flops = 0;
  double bytes = 0;   // HBM bytes read + written
  int kernels = 1;
  Dtype dtype = Dtype::Bf16;
};

// FLOPs and HBM bytes of one grouped SwiGLU expert block (grouped gate/up GEMM, SiLU*mul, grouped
// down GEMM) over per-expert token counts: per active expert 6 n H F FLOPs, its 3 H F weights and
// n (2H + 6F) activation elements (input, gate/up output, activation, down output).
OpCost grouped_swiglu_cost(int64_t hidden, double intermediate, Dtype compute_dtype, double weight_bytes_per_elem,
                           double act_bytes_per_elem, const std::vector<int64_t>& counts);

struct CostEstimate {
  SimTime time;
  bool compute_bound = false;
  const char* source = "roofline";
};

class RooflineModel {
 public:
  explicit RooflineModel(const HardwareProfile& hw) : hw_(hw) {}
  // compute_fraction < 1 when communication kernels hold part of the compute units.
  CostEstimate estimate(const OpCost& op, double compute_fraction = 1.0) const;

 private:
  const HardwareProfile& hw_;
};

}  // namespace moesim
