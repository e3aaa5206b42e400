#include "sim/hardware/device_cost.h"

#include <filesystem>

#include <fmt/format.h>

#include "sim/hardware/expert_backends.h"

namespace moesim {

std::shared_ptr<const OpTable> find_op_table(const HardwareProfile& hw, const std::string& data_dir, std::optional<HardwareProfile>& source_hw) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(data_dir) / "hw_profiles";
  std::error_code ec;
  const std::string& name = hw.op_table_from.empty() ? hw.name : hw.op_table_from;
  const auto path = (dir / (name + ".ops.json")).string();
  if (!fs::is_regular_file(path, ec)) {
    if (!hw.op_table_from.empty())
      throw input_error(hw.file, hw.json_path + ".op_table_from", fmt::format("names profile \"{}\", which has no per-op table ({} does not exist)", name, path));
    return nullptr;
  }
  auto t = load_op_table_file(path);
  if (t->hardware != name) throw input_error(path, "$.hardware", fmt::format("table is for \"{}\" but the profile asks for \"{}\"", t->hardware, name));
  if (!hw.op_table_from.empty()) source_hw = load_hardware_file((dir / (name + ".json")).string());
  return t;
}

DeviceCostModel::DeviceCostModel(const HardwareProfile& hw, const DeviceCostOptions& options)
    : hw_(hw), options_(options), roofline_(hw_) {
  std::optional<HardwareProfile> source;
  ops_ = find_op_table(hw_, options_.data_dir, source);
  if (source) ops_source_ = std::make_unique<HardwareProfile>(std::move(*source));
  const auto* entry = expert_backend_registry().find(options_.expert_backend);
  if (!entry) throw CostSourceError("unknown expert backend \"" + options_.expert_backend + "\"");
  if (entry->traits.kind == ExpertBackendKind::Roofline) return;
  auto table = find_calibration(hw_, options_.data_dir);
  if (entry->traits.kind == ExpertBackendKind::Measured) {
    try {
      experts_ = std::make_unique<ExpertCostModel>(hw_, std::move(table), entry->name, options_.allow_extrapolation);
    } catch (const InputError& e) {
      throw CostSourceError(e.what());
    }
    strict_ = true;
    dense_gemms_ = DenseGemmTable(experts_->table()->kernels.value("dense_gemm", Json()));
    return;
  }
  // auto: beyond the largest measured count the block is compute-bound and scales with tokens,
  // so auto extrapolates there (and says so) rather than mixing in rooflines.
  if (!table) return;
  dense_gemms_ = DenseGemmTable(table->kernels.value("dense_gemm", Json()));
  std::vector<const ExpertBackendRegistry::Entry*> measured;
  for (const auto& e : expert_backend_registry().entries())
    if (e.traits.kind == ExpertBackendKind::Measured) measured.push_back(&e);
  std::stable_sort(measured.begin(), measured.end(), [](auto* a, auto* b) { return a->traits.auto_preference < b->traits.auto_preference; });
  for (const auto* e : measured) {
    if (!table->find(e->name, dtype_name(options_.expert_dtype))) continue;
    experts_ = std::make_unique<ExpertCostModel>(hw_, std::move(table), e->name, true);
    break;
  }
}

double DeviceCostModel::compute_fraction(bool beside_comm) const {
  if (!beside_comm || !options_.comm_overlapped) return 1.0;
  return static_cast<double>(hw_.compute_units - options_.comm_compute_units) / static_cast<double>(hw_.compute_units);
}

double DeviceCostModel::overlap_stretch() const {
  if (!options_.comm_overlapped) return 1.0;
  return static_cast<double>(hw_.compute_units) / static_cast<double>(hw_.compute_units - options_.comm_compute_units);
}

SimTime DeviceCostModel::roofline(const OpCost& op, bool beside_comm) const {
  return roofline_.estimate(op, compute_fraction(beside_comm)).time;
}

OpTime DeviceCostModel::expert_block(int64_t hidden, double intermediate, Dtype dtype, double weight_bytes_per_elem,
                                     double act_bytes_per_elem, const std::vector<int64_t>& counts) const {
  if (experts_) {
    try {
      const auto est = experts_->expert_block(hidden, static_cast<int64_t>(intermediate), dtype, counts);
      return {SimTime::from_ps_truncated(static_cast<double>(est.time.ps()) * overlap_stretch()), est.source, est.extrapolated};
    } catch (const InputError& e) {
      if (strict_) throw CostSourceError(e.what());
    }
  }
  return {roofline(grouped_swiglu_cost(hidden, intermediate, dtype, weight_bytes_per_elem, act_bytes_per_elem, counts), true), "roofline"};
}

OpTime DeviceCostModel::dense_mlp(int64_t tokens, int64_t hidden, int64_t intermediate, Dtype weight_dtype, double act_bytes_per_elem,
                                  const OpCost& roofline_cost) const {
  const SimTime fallback = roofline(roofline_cost, true);
  const auto gate_up = dense_gemms_.time_us(tokens, hidden, 2 * intermediate, weight_dtype);
  const auto down = dense_gemms_.time_us(tokens, intermediate, hidden, weight_dtype);
  if (!gate_up || !down) return {fallback, "roofline"};
  OpCost act;  // SiLU(g) * u: reads g and u, writes the product
  act.flops = 4.0 * static_cast<double>(tokens * intermediate);
  act.bytes = 3.0 * static_cast<double>(tokens * intermediate) * act_bytes_per_elem;
  act.kernels = 1;
  return {SimTime::from_seconds((*gate_up + *down) * 1e-6 * overlap_stretch()) + roofline(act, true), "calibrated:dense-gemm"};
}

}  // namespace moesim

namespace moesim {

OpTiming DeviceCostModel::op(const std::string& table_op, const std::vector<double>& coords, const OpCost& roofline_cost, bool beside_comm) const {
  if (ops_) {
    if (const auto hit = ops_->lookup(table_op, coords)) {
      double us = hit->graph_us;
      std::string source = "measured:" + table_op;
      if (ops_source_) {  // the transfer rule: add the difference of the two devices' rooflines
        const double here = roofline_.estimate(roofline_cost).time.us();
        const double there = RooflineModel(*ops_source_).estimate(roofline_cost).time.us();
        us = std::max(us + here - there, std::min(us, here));
        source += " (from " + ops_source_->name + ")";
      }
      const double stretch = beside_comm ? overlap_stretch() : 1.0;
      return {SimTime::from_seconds(us * 1e-6 * stretch), SimTime::from_seconds(hit->host_us * 1e-6), source, hit->extrapolated};
    }
  }
  SimTime host;
  for (int k = 0; k < roofline_cost.kernels; ++k) host += hw_.kernel_launch;
  return {roofline(roofline_cost, beside_comm), host, "roofline", false};
}

}  // namespace moesim
