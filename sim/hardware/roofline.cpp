#include "sim/hardware/roofline.h"

#include <algorithm>

namespace moesim {

OpCost grouped_swiglu_cost(int64_t hidden, double intermediate, Dtype compute_dtype, double weight_bytes_per_elem,
                           double act_bytes_per_elem, const std::vector<int64_t>& counts) {
  const double H = static_cast<double>(hidden), F = intermediate;
  OpCost op;
  op.dtype = compute_dtype;
  op.kernels = 3;  // grouped gate/up GEMM, activation, grouped down GEMM
  for (int64_t n : counts) {
    if (n <= 0) continue;
    const double N = static_cast<double>(n);
    op.flops += 6.0 * N * H * F;
    op.bytes += 3.0 * H * F * weight_bytes_per_elem + N * (2.0 * H + 6.0 * F) * act_bytes_per_elem;
  }
  return op;
}

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
