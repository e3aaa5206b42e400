// The roofline cost of one kernel (or a fused group of kernels) on a device: the larger of its
// compute time at the achievable fraction of peak FLOP/s for its dtype and its memory time at the
// achievable fraction of HBM bandwidth, plus a launch cost per kernel. It never reports less than
// the datasheet's physical limit (efficiencies are at most 1). Used until measured tables exist.
#pragma once
#include <string>

#include "sim/engine/sim_time.h"
#include "sim/hardware/hardware_profile.h"

namespace moesim {

struct OpCost {
  double flops = 0;
  double bytes = 0;   // HBM bytes read + written
  int kernels = 1;
  std::string dtype = "bf16";
};

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
