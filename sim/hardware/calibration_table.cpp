#include "sim/hardware/calibration_table.h"

#include <cmath>
#include <set>
#include <tuple>

#include <fmt/format.h>

namespace moesim {
namespace {

const char* kFormat = "moesim-calibration-1";

std::vector<int64_t> int_array(const JsonValue& v, int64_t min) {
  std::vector<int64_t> out;
  for (const auto& x : v.as_array(1, 1u << 20)) out.push_back(x.as_int(min, INT64_C(1) << 40));
  return out;
}

std::vector<double> time_array(const JsonValue& v, size_t n) {
  const auto items = v.as_array();
  if (items.size() != n) v.fail(fmt::format("expected {} times (one per token count), got {}", n, items.size()));
  std::vector<double> out;
  for (const auto& x : items) {
    const double t = x.as_number();
    if (!(t > 0)) x.fail(fmt::format("a time must be positive, got {}", t));
    out.push_back(t);
  }
  return out;
}

CalibrationCurve parse_curve(const JsonValue& v) {
  auto o = v.as_object();
  CalibrationCurve c;
  c.hidden = o.required("hidden").as_int(16, 1 << 20);
  c.intermediate = o.required("intermediate").as_int(16, 1 << 20);
  c.experts = o.required("experts").as_int(1, 1 << 16);
  const auto tv = o.required("tokens");
  c.tokens = int_array(tv, 1);
  for (size_t i = 1; i < c.tokens.size(); ++i)
    if (c.tokens[i] <= c.tokens[i - 1])
      tv.as_array()[i].fail(fmt::format("tokens must increase strictly, got {} after {}", c.tokens[i], c.tokens[i - 1]));
  c.median_us = time_array(o.required("median_us"), c.tokens.size());
  if (auto p = o.optional("p10_us")) c.p10_us = time_array(*p, c.tokens.size());
  if (auto p = o.optional("p90_us")) c.p90_us = time_array(*p, c.tokens.size());
  for (size_t i = 0; i < c.p10_us.size(); ++i)
    if (c.p10_us[i] > c.median_us[i] * (1 + 1e-9)) o.required("p10_us").as_array()[i].fail("p10 above the median");
  for (size_t i = 0; i < c.p90_us.size(); ++i)
    if (c.p90_us[i] < c.median_us[i] * (1 - 1e-9)) o.required("p90_us").as_array()[i].fail("p90 below the median");
  o.finish();
  return c;
}

SkewedMeasurement parse_skewed(const JsonValue& v) {
  auto o = v.as_object();
  SkewedMeasurement s;
  if (auto t = o.optional("tag")) s.tag = t->as_string();
  s.hidden = o.required("hidden").as_int(16, 1 << 20);
  s.intermediate = o.required("intermediate").as_int(16, 1 << 20);
  s.counts = int_array(o.required("counts"), 0);
  s.median_us = o.required("median_us").as_number(1e-9, 1e12);
  o.finish();
  return s;
}

ExpertBlockTable parse_block_table(const JsonValue& v, const std::string& backend, const std::string& dtype) {
  auto o = v.as_object();
  ExpertBlockTable t;
  t.backend = backend, t.dtype = dtype;
  std::set<std::tuple<int64_t, int64_t, int64_t>> seen;
  for (const auto& c : o.required("uniform").as_array(1, 1u << 20)) {
    t.uniform.push_back(parse_curve(c));
    const auto& u = t.uniform.back();
    if (!seen.insert({u.hidden, u.intermediate, u.experts}).second)
      c.fail(fmt::format("duplicate entry for hidden={} intermediate={} experts={}", u.hidden, u.intermediate, u.experts));
  }
  if (auto s = o.optional("skewed"))
    for (const auto& x : s->as_array()) t.skewed.push_back(parse_skewed(x));
  if (auto tile = o.optional("token_tile")) t.token_tile = tile->as_int(0, 1 << 16);
  o.optional("token_tile_fit");  // assemble.py's record of the fit; not used here
  o.finish();
  return t;
}

void check_kernel_list(const JsonValue& v) {
  for (const auto& x : v.as_array()) {
    if (!x.is_object()) x.fail("expected an object");
    if (!x.raw().contains("median_us")) x.fail("missing required key \"median_us\"");
    auto o = x.as_object();
    o.required("median_us").as_number(1e-9, 1e12);
  }
}

}  // namespace

const ExpertBlockTable* CalibrationTable::find(const std::string& backend, const std::string& dtype) const {
  auto it = blocks.find({backend, dtype});
  return it == blocks.end() ? nullptr : &it->second;
}

std::vector<std::string> CalibrationTable::backends() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : implementations) out.push_back(k);
  return out;
}

std::vector<std::string> CalibrationTable::dtypes(const std::string& backend) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : blocks)
    if (k.first == backend) out.push_back(k.second);
  return out;
}

CalibrationTable parse_calibration(const JsonValue& root) {
  auto o = root.as_object();
  CalibrationTable t;
  t.file = root.file();
  const auto fmt_v = o.required("format");
  if (fmt_v.as_string() != kFormat) fmt_v.fail(fmt::format("unknown format \"{}\" (expected \"{}\")", fmt_v.as_string(), kFormat));
  t.hardware = o.required("hardware").as_string();
  if (t.hardware.empty()) o.required("hardware").fail("expected a hardware profile name");
  if (auto d = o.optional("description")) d->as_string();
  if (auto d = o.optional("timing")) d->as_string();
  {
    auto p = o.required("provenance").as_object();
    auto& pv = t.provenance;
    pv.gpu_name = p.required("gpu_name").as_string();
    pv.driver = p.required("driver").as_string();
    pv.date_utc = p.required("date_utc").as_string();
    pv.git_commit = p.required("git_commit").as_string();
    pv.command = p.required("command").as_string();
    if (auto x = p.optional("nvcc")) pv.nvcc = x->as_string();
    if (auto x = p.optional("cublas_headers")) pv.cublas = x->as_string();
    if (auto x = p.optional("torch")) pv.torch = x->as_string();
    if (auto x = p.optional("selftests")) x->as_array();
    if (auto x = p.optional("parts")) x->as_array(1, 100);
    p.finish();
  }
  {
    const auto eb = o.required("expert_block");
    auto bo = eb.as_object();
    if (eb.raw().empty()) eb.fail("expected at least one backend");
    for (auto it = eb.raw().begin(); it != eb.raw().end(); ++it) {
      const auto bv = bo.required(it.key());
      auto b = bv.as_object();
      t.implementations[it.key()] = b.required("implementation").as_string();
      int dtypes = 0;
      for (auto dt = bv.raw().begin(); dt != bv.raw().end(); ++dt) {
        if (dt.key() == "implementation") continue;
        const auto dv = b.required(dt.key());
        if (dt.key() != "bf16" && dt.key() != "fp8" && dt.key() != "fp16")
          dv.fail(fmt::format("unknown dtype \"{}\" (one of bf16, fp8, fp16)", dt.key()));
        t.blocks[{it.key(), dt.key()}] = parse_block_table(dv, it.key(), dt.key());
        ++dtypes;
      }
      if (dtypes == 0) bv.fail("expected at least one dtype table (bf16, fp8, fp16)");
      b.finish();
    }
  }
  t.kernels = Json::object();
  for (const char* k : {"dense_gemm", "memcpy", "gating", "elementwise"}) {
    if (auto v = o.optional(k)) {
      check_kernel_list(*v);
      t.kernels[k] = v->raw();
    }
  }
  if (auto v = o.optional("communication")) {
    v->as_object();
    t.kernels["communication"] = v->raw();
  }
  o.finish();
  return t;
}

std::shared_ptr<const CalibrationTable> load_calibration_file(const std::string& path) {
  return parse_once<CalibrationTable>(JsonDocument::load_file(path), [](const JsonValue& root) { return parse_calibration(root); });
}

}  // namespace moesim
