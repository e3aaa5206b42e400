// One device's cost model: "how long does this op take on this device, and which source
// answered". It owns the choice of expert backend (expert_backends.h) and its fallbacks, the
// device's measured tables (expert blocks, dense GEMMs: hw_profiles/<gpu>.calibration.json) and
// the share of the SMs that overlapped communication kernels take from compute:
//  - roofline ops (roofline.h) run on (units - comm_units) / units of the compute units when they
//    share the device with communication (an overlap schedule), all of them otherwise;
//  - measured times (taken on the whole GPU) are stretched by units / (units - comm_units) then;
//  - expert blocks: the measured backend ("auto": the first measured one with a table for the
//    dtype, extrapolating beyond the grid; a named backend: strict, CostSourceError outside its
//    grid unless allow_extrapolation), else the roofline of the grouped SwiGLU block;
//  - dense SwiGLU MLPs (shared experts): two measured dense GEMMs (gate/up [T,H]x[H,2F], down
//    [T,F]x[F,H]) plus the activation's roofline where the table has both shapes, else the roofline.
// Times are SimTime; the tables' microseconds are converted here, at the boundary.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/base/dtype.h"
#include "sim/engine/sim_time.h"
#include "sim/hardware/dense_gemm_table.h"
#include "sim/hardware/expert_cost_model.h"
#include "sim/hardware/hardware_profile.h"
#include "sim/hardware/roofline.h"
#include "sim/io/errors.h"

namespace moesim {

// The chosen expert backend cannot answer (no table, no such backend, outside its grid).
class CostSourceError : public InputError {
 public:
  using InputError::InputError;
};

struct DeviceCostOptions {
  std::string expert_backend = "auto";  // a name in expert_backend_registry()
  bool allow_extrapolation = false;     // for a named measured backend
  Dtype expert_dtype = Dtype::Bf16;     // the dtype "auto" looks for in the table
  bool comm_overlapped = false;         // communication kernels run beside compute (an overlap schedule)
  int64_t comm_compute_units = 0;       // the SMs they take then
  std::string data_dir;                 // where hw_profiles/ is (find_calibration)
};

struct OpTime {
  SimTime time;
  std::string source;         // "roofline", "calibrated:<backend>", "calibrated:dense-gemm"
  bool extrapolated = false;  // beyond the measured grid
};

class DeviceCostModel {
 public:
  // Throws CostSourceError when a named measured backend has no table on this device.
  DeviceCostModel(const HardwareProfile& hw, const DeviceCostOptions& options);

  // The roofline time of `op`; `beside_comm`: it runs while communication kernels hold SMs.
  SimTime roofline(const OpCost& op, bool beside_comm) const;
  // One grouped SwiGLU block over per-expert token counts (hidden H, intermediate per device F).
  OpTime expert_block(int64_t hidden, double intermediate, Dtype dtype, double weight_bytes_per_elem,
                      double act_bytes_per_elem, const std::vector<int64_t>& counts) const;
  // A dense SwiGLU MLP over `tokens` tokens, beside communication (shared experts).
  OpTime dense_mlp(int64_t tokens, int64_t hidden, int64_t intermediate, Dtype weight_dtype, double act_bytes_per_elem,
                   const OpCost& roofline_cost) const;
  const HardwareProfile& hardware() const { return hw_; }
  // The measured table the expert blocks come from; null when they come from the roofline.
  const CalibrationTable* calibration() const { return experts_ && experts_->table() ? &*experts_->table() : nullptr; }

 private:
  double overlap_stretch() const;
  double compute_fraction(bool beside_comm) const;

  HardwareProfile hw_;
  DeviceCostOptions options_;
  RooflineModel roofline_;
  std::unique_ptr<ExpertCostModel> experts_;  // null: roofline only
  bool strict_ = false;                       // a named backend: its errors are errors
  DenseGemmTable dense_gemms_;
};

}  // namespace moesim
