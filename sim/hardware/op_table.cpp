#include "sim/hardware/op_table.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace moesim {
namespace {

const char* kFormat = "moesim-op-table-1";

std::vector<double> times(const JsonValue& v, size_t n, bool allow_null) {
  const auto items = v.as_array();
  if (items.size() != n) v.fail(fmt::format("expected {} values (one per grid point), got {}", n, items.size()));
  std::vector<double> out;
  out.reserve(n);
  for (const auto& x : items) {
    if (x.is_null() && allow_null) {
      out.push_back(std::numeric_limits<double>::quiet_NaN());
      continue;
    }
    const double t = x.as_number();
    if (!(t >= 0) || !std::isfinite(t)) x.fail(fmt::format("a time must be finite and not negative, got {}", t));
    out.push_back(t);
  }
  return out;
}

OpAxis parse_axis(const JsonValue& v) {
  auto o = v.as_object();
  OpAxis a;
  a.name = o.required("name").as_string();
  const auto vals = o.required("values");
  for (const auto& x : vals.as_array(1, 4096)) a.values.push_back(x.as_number(1e-9, 1e15));
  for (size_t i = 1; i < a.values.size(); ++i)
    if (a.values[i] <= a.values[i - 1]) vals.as_array()[i].fail("axis values must increase strictly");
  if (auto e = o.optional("extrapolation_exponent")) a.extrapolation_exponent = e->as_number(0, 4);
  o.finish();
  return a;
}

OpGrid parse_grid(const JsonValue& v) {
  auto o = v.as_object();
  OpGrid g;
  g.kernel = o.required("kernel").as_string();
  const auto axes = o.required("axes");
  size_t n = 1;
  for (const auto& a : axes.as_array(1, 8)) {
    g.axes.push_back(parse_axis(a));
    n *= g.axes.back().values.size();
  }
  if (n > (1u << 22)) axes.fail("grid too large");
  g.graph_us = times(o.required("graph_us"), n, true);
  g.eager_us = times(o.required("eager_us"), n, true);
  g.host_us = times(o.required("host_us"), n, true);
  for (size_t i = 0; i < n; ++i)
    if (std::isnan(g.graph_us[i]) != std::isnan(g.host_us[i])) o.required("host_us").as_array()[i].fail("measured in graph mode but not in eager mode");
  o.optional("measured_points");
  o.finish();
  return g;
}

// Position of x on one axis: lower and upper grid index and the log-weight of the upper; `scale`
// is the power-law factor past the last value, `outside` whether x is off the grid.
struct AxisPos {
  size_t lo = 0, hi = 0;
  double w = 0, scale = 1;
  bool outside = false;
};

AxisPos locate(const OpAxis& a, double x) {
  const auto& v = a.values;
  AxisPos p;
  if (x <= v.front()) {
    p.outside = x < v.front() * (1 - 1e-9);
    return p;
  }
  if (x >= v.back()) {
    p.lo = p.hi = v.size() - 1;
    p.outside = x > v.back() * (1 + 1e-9);
    p.scale = std::pow(x / v.back(), a.extrapolation_exponent);
    return p;
  }
  size_t hi = 1;
  while (v[hi] < x) ++hi;
  p.lo = hi - 1;
  p.hi = hi;
  p.w = std::log(x / v[p.lo]) / std::log(v[hi] / v[p.lo]);
  return p;
}

// Multilinear log-log interpolation over the cells around `pos`; nullopt if a cell with positive
// weight is unmeasured.
std::optional<double> interpolate(const OpGrid& g, const std::vector<double>& t, const std::vector<AxisPos>& pos) {
  const size_t n = pos.size();
  double log_sum = 0;
  for (size_t corner = 0; corner < (size_t{1} << n); ++corner) {
    double w = 1;
    size_t flat = 0;
    for (size_t a = 0; a < n; ++a) {
      const bool up = (corner >> a) & 1u;
      const double wa = up ? pos[a].w : 1 - pos[a].w;
      if (wa == 0) {
        w = 0;
        break;
      }
      w *= wa;
      flat = flat * g.axes[a].values.size() + (up ? pos[a].hi : pos[a].lo);
    }
    if (w == 0) continue;
    const double v = t[flat];
    if (std::isnan(v)) return std::nullopt;
    log_sum += w * std::log(std::max(v, 1e-3));
  }
  double scale = 1;
  for (const auto& p : pos) scale *= p.scale;
  return std::exp(log_sum) * scale;
}

}  // namespace

const OpGrid* OpTable::find(const std::string& op) const {
  const auto it = ops.find(op);
  return it == ops.end() ? nullptr : &it->second;
}

std::optional<OpLookup> OpTable::lookup(const std::string& op, const std::vector<double>& coords) const {
  const OpGrid* g = find(op);
  if (!g) return std::nullopt;
  if (coords.size() != g->axes.size())
    throw InputError(fmt::format("{}: op \"{}\" has {} axes, asked with {} coordinates", file, op, g->axes.size(), coords.size()));
  std::vector<AxisPos> pos;
  OpLookup r;
  for (size_t a = 0; a < coords.size(); ++a) {
    if (!(coords[a] > 0) || !std::isfinite(coords[a]))
      throw InputError(fmt::format("{}: op \"{}\" axis \"{}\" needs a positive value, got {}", file, op, g->axes[a].name, coords[a]));
    pos.push_back(locate(g->axes[a], coords[a]));
    r.extrapolated = r.extrapolated || pos.back().outside;
  }
  // The host's issue time does not grow with the work: no power law past the grid, for it.
  auto unscaled = [](std::vector<AxisPos> p) {
    for (auto& a : p) a.scale = 1;
    return p;
  };
  auto graph = interpolate(*g, g->graph_us, pos);
  auto host = interpolate(*g, g->host_us, unscaled(pos));
  // Unmeasured cells: lower the first axis to the largest grid value whose cells all exist.
  const auto& first = g->axes[0];
  for (size_t i = pos[0].lo + 1; (!graph || !host) && i-- > 0;) {
    auto low = pos;
    low[0] = AxisPos{i, i, 0, std::pow(coords[0] / first.values[i], first.extrapolation_exponent), true};
    graph = interpolate(*g, g->graph_us, low);
    host = interpolate(*g, g->host_us, unscaled(low));
    r.extrapolated = true;
  }
  if (!graph || !host) return std::nullopt;
  r.graph_us = *graph;
  r.host_us = *host;
  return r;
}

OpTable parse_op_table(const JsonValue& root) {
  auto o = root.as_object();
  OpTable t;
  t.file = root.file();
  const auto fmt_v = o.required("format");
  if (fmt_v.as_string() != kFormat) fmt_v.fail(fmt::format("expected \"{}\"", kFormat));
  t.hardware = o.required("hardware").as_string();
  o.optional("description");
  o.optional("timing");
  if (auto v = o.optional("graph_launch_us")) t.graph_launch_us = v->as_number(0, 1e6);
  if (auto p = o.optional("provenance")) {
    const auto parts = p->as_array();
    if (!parts.empty() && parts[0].is_object()) {
      const auto& j = parts[0].raw();
      t.gpu_name = j.value("gpu_name", "");
      t.date_utc = j.value("date_utc", "");
      t.git_commit = j.value("git_commit", "");
    }
  }
  auto ops = o.required("ops").as_object();
  for (const auto& [name, _] : ops.self().raw().items()) t.ops.emplace(name, parse_grid(ops.required(name)));
  ops.finish();
  o.finish();
  std::vector<double> lat;
  for (const auto& [name, g] : t.ops)
    for (size_t i = 0; i < g.graph_us.size(); ++i)
      if (!std::isnan(g.graph_us[i]) && !std::isnan(g.eager_us[i])) lat.push_back(g.eager_us[i] - std::max(g.graph_us[i], g.host_us[i]));
  if (!lat.empty()) {
    std::nth_element(lat.begin(), lat.begin() + static_cast<std::ptrdiff_t>(lat.size() / 2), lat.end());
    t.eager_latency_us = std::max(0.0, lat[lat.size() / 2]);
  }
  return t;
}

std::shared_ptr<const OpTable> load_op_table_file(const std::string& path) {
  return parse_once<OpTable>(JsonDocument::load_file(path), [](const JsonValue& root) { return parse_op_table(root); });
}

}  // namespace moesim
