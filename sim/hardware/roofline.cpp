#include "sim/hardware/roofline.h"

#include <algorithm>

namespace moesim {

CostEstimate RooflineModel::estimate(const OpCost& op, double compute_fraction) const {
  const double compute_s = op.flops / (hw_.flops_for(op.dtype) * hw_.matmul_efficiency * compute_fraction);
  const double memory_s = op.bytes / (hw_.hbm_bandwidth_Bps * hw_.memory_efficiency);
  CostEstimate c;
  c.compute_bound = compute_s >= memory_s;
  c.time = SimTime::from_seconds(std::max(compute_s, memory_s));
  for (int k = 0; k < op.kernels; ++k) c.time += hw_.kernel_launch;
  return c;
}

}  // namespace moesim
