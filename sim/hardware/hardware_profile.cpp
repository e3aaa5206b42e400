#include "sim/hardware/hardware_profile.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace moesim {

namespace {

// A profile name finds the profile's measured tables (hw_profiles/NAME.calibration.json,
// NAME.ops.json), so it must be one plain file-name component: letters, digits, '.', '_', '+',
// '-', not starting with '.', at most 64 characters.
std::string profile_name(const JsonValue& v) {
  const std::string name = v.as_string();
  const bool plain = !name.empty() && name.size() <= 64 && name[0] != '.' &&
                     std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '+' || c == '-'; });
  if (!plain) v.fail("expected a profile name (letters, digits, '.', '_', '+', '-'; not starting with '.'; at most 64 characters): it names the profile's table files");
  return name;
}

}  // namespace

double HardwareProfile::flops_for(Dtype dtype) const {
  auto it = peak_flops.find(dtype_name(dtype));
  if (it != peak_flops.end()) return it->second;
  return peak_flops.at("bf16");
}

namespace {

LinkSpec parse_link(const JsonValue& v, const std::vector<std::string>& fabrics) {
  auto o = v.as_object();
  LinkSpec l;
  l.fabric = o.required("fabric").as_choice(fabrics);
  l.bandwidth_Bps = o.required("bandwidth").as_bandwidth();
  l.latency = o.required("latency").as_duration();
  if (auto e = o.optional("efficiency")) l.efficiency = e->as_number(0.01, 1.0);
  o.finish();
  return l;
}

}  // namespace

HardwareProfile parse_hardware(const JsonValue& value) {
  auto o = value.as_object();
  HardwareProfile h;
  h.source_json = value.raw();
  h.file = value.file();
  h.json_path = value.path();
  h.name = profile_name(o.required("name"));
  h.vendor = o.required("vendor").as_string();
  if (auto d = o.optional("description")) h.description = d->as_string();
  if (auto s = o.optional("sources")) s->as_string_map();
  h.hbm_capacity_bytes = o.required("hbm_capacity").as_bytes();
  if (h.hbm_capacity_bytes <= 0) o.required("hbm_capacity").fail("HBM capacity must be positive");
  if (auto r = o.optional("hbm_reserved")) h.hbm_reserved_bytes = r->as_bytes();
  if (h.hbm_reserved_bytes >= h.hbm_capacity_bytes) o.required("hbm_reserved").fail("reserved HBM must be below the capacity");
  h.hbm_bandwidth_Bps = o.required("hbm_bandwidth").as_bandwidth();
  {
    auto pf = o.required("peak_flops");
    auto po = pf.as_object();
    for (auto it = pf.raw().begin(); it != pf.raw().end(); ++it) {
      if (!parse_dtype(it.key())) pf.fail(fmt::format("unknown dtype \"{}\" (one of bf16, fp16, fp8, int8, fp32)", it.key()));
      h.peak_flops[it.key()] = po.required(it.key()).as_flops_rate();
    }
    if (!h.peak_flops.count("bf16")) pf.fail("missing required key \"bf16\"");
    po.finish();
  }
  h.compute_units = o.required("compute_units").as_int(1, 100000);
  {
    auto e = o.required("efficiency").as_object();
    h.matmul_efficiency = e.required("matmul").as_number(0.01, 1.0);
    h.memory_efficiency = e.required("memory").as_number(0.01, 1.0);
    e.required("source").as_string();
    e.finish();
  }
  h.kernel_launch = o.required("kernel_launch").as_duration();
  h.intra_node = parse_link(o.required("intra_node"), {"nvswitch", "nvlink-mesh", "hccs", "pcie"});
  h.inter_node = parse_link(o.required("inter_node"), {"infiniband", "roce", "ethernet"});
  h.collective_latency = o.required("collective_latency").as_duration();
  if (auto p = o.optional("price_per_hour")) h.price_per_hour = p->as_number(0, 1e6);
  if (auto c = o.optional("calibration_from")) h.calibration_from = profile_name(*c);
  if (auto c = o.optional("op_table_from")) h.op_table_from = profile_name(*c);
  o.finish();
  return h;
}

HardwareProfile load_hardware_file(const std::string& path) {
  const auto doc = JsonDocument::load_file(path);
  return parse_hardware(doc.root());
}

}  // namespace moesim
