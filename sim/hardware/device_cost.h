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
//    [T,F]x[F,H]) plus the activation's roofline where the table has both shapes, else the roofline;
//  - every other op of a layer (op(): norms, projections, rotary, attention core, router, permute,
//    ...; sim/moe/layer_ops.h lists them) from the device's per-op table
//    (hw_profiles/<gpu>.ops.json, op_table.h): the GPU time in a CUDA graph and the host's time to
//    issue it in eager mode. A profile with "op_table_from" (the H100 and H800 take the H200's: the
//    same GH100 die, SMs and clocks) transfers that table by adding the difference of the two
//    devices' rooflines for the op, t = max(t_src + roof_dst - roof_src, min(t_src, roof_dst)):
//    a measured time is the op's roofline-bound part (FLOPs at the peak rate or bytes at the HBM
//    bandwidth, which differ between the devices) plus what the kernel spends beyond it (launch,
//    waves, latency: the same die, the same overheads). So compute-bound time carries over,
//    HBM-bound time grows with the bandwidth ratio and launch-bound time stays; scaling the whole
//    time by the ratio of the rooflines instead was 2-3x further off against vLLM's H100/H200
//    pairs (calibration/ACCURACY.md). No table or no such op: the roofline, labelled so.
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
#include "sim/hardware/op_table.h"
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

// One op of a layer: its GPU time (in a CUDA graph) and the host's time to issue it eagerly.
struct OpTiming {
  SimTime gpu, host;
  std::string source;  // "measured:<table op>", "measured:<table op> (from <device>)", "roofline"
  bool extrapolated = false;
};

// The per-op table for `hw`: its own hw_profiles/<name>.ops.json, else the one of `op_table_from`
// (then `source_hw` is that device's profile, for the transfer); null when neither exists.
std::shared_ptr<const OpTable> find_op_table(const HardwareProfile& hw, const std::string& data_dir, std::optional<HardwareProfile>& source_hw);

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
  // One op of a layer from the per-op table (`table_op` and its coordinates: op_table.h), else
  // the roofline of `roofline_cost`. `beside_comm`: it runs while communication kernels hold SMs.
  OpTiming op(const std::string& table_op, const std::vector<double>& coords, const OpCost& roofline_cost, bool beside_comm) const;
  // The per-op table in use (null: ops come from the roofline) and the device it was measured on.
  const OpTable* op_table() const { return ops_.get(); }
  const HardwareProfile& hardware() const { return hw_; }
  // The measured table the expert blocks come from; null when they come from the roofline.
  const CalibrationTable* calibration() const { return experts_ ? experts_->table() : nullptr; }

 private:
  double overlap_stretch() const;
  double compute_fraction(bool beside_comm) const;

  HardwareProfile hw_;
  DeviceCostOptions options_;
  RooflineModel roofline_;
  std::unique_ptr<ExpertCostModel> experts_;  // null: roofline only
  bool strict_ = false;                       // a named backend: its errors are errors
  DenseGemmTable dense_gemms_;
  std::shared_ptr<const OpTable> ops_;  // shared by every model of one file
  std::unique_ptr<HardwareProfile> ops_source_;  // set when ops_ is another device's table
};

}  // namespace moesim
