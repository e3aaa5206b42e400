// Parsing SWEEP.json and expanding its points; applying a point's overrides to the base.
#include "sim/sweep/sweep_spec.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "sim/scenario/data_paths.h"
#include "sim/scenario/simulation.h"
#include "sim/io/input_file.h"
#include "sim/io/report_schema.h"

namespace moesim {
namespace {

constexpr int64_t kMaxPoints = 1000000;

std::string read_text(const std::string& path) { return read_input_file(path, kMaxJsonFileBytes, "a JSON file"); }

// The same text as `doc`, parsed again keeping key order (axis order defines point order).
OrderedJson ordered_text(const std::string& path) {
  try {
    return OrderedJson::parse(read_text(path));
  } catch (const OrderedJson::parse_error&) {
    throw input_error(path, "", "file changed while being read");
  }
}

std::string escape_pointer_key(const std::string& k) {
  std::string out;
  for (char c : k) out += c == '~' ? std::string("~0") : c == '/' ? std::string("~1") : std::string(1, c);
  return out;
}

// An override path as --set takes it: dot-separated non-empty keys, no '='.
void check_override_path(const JsonValue& at, const std::string& path) {
  if (path.empty()) at.fail("empty override path");
  if (path.find('=') != std::string::npos) at.fail(fmt::format("override path \"{}\" contains '='", path));
  if (path.front() == '.' || path.back() == '.' || path.find("..") != std::string::npos)
    at.fail(fmt::format("override path \"{}\" has an empty key; expected keys separated by dots, such as \"parallel.expert_parallel\"", path));
}

// A metric: a JSON pointer ("/a/b"), or dotted keys ("a.b"); either may end in "*" (every scalar
// member of that object).
void check_metric(const JsonValue& at, const std::string& m) {
  if (m.empty()) at.fail("empty metric name");
  if (m.front() == '/') {
    std::string p = m;
    if (p.size() >= 2 && p.ends_with("/*")) p.resize(p.size() - 2);
    try {
      (void)Json::json_pointer(p);
    } catch (const Json::exception& e) {
      at.fail(fmt::format("\"{}\" is not a valid JSON pointer ({})", m, e.what()));
    }
    return;
  }
  if (m.front() == '.' || m.back() == '.' || m.find("..") != std::string::npos)
    at.fail(fmt::format("metric \"{}\" has an empty key; expected a JSON pointer (\"/step_time_us\") or dotted keys (\"breakdown_us.attention\")", m));
  const auto star = m.find('*');
  if (star != std::string::npos && !(star == m.size() - 1 && (m.size() == 1 || m[star - 1] == '.')))
    at.fail(fmt::format("metric \"{}\": \"*\" may only stand for the last key (\"breakdown_us.*\")", m));
}

// ".key" for a plain identifier, else ["key"] (override paths contain dots).
std::string quoted_key(const std::string& k) {
  bool plain = !k.empty() && !std::isdigit(static_cast<unsigned char>(k[0]));
  for (char c : k) plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  return plain ? fmt::format(".{}", k) : fmt::format("[{}]", Json(k).dump());
}

void expand_grid(SweepSpec& spec, const JsonValue& axes_value, const OrderedJson& axes) {
  if (axes.empty()) axes_value.fail("expected at least one axis, such as {\"parallel.expert_parallel\": [8, 16]}");
  std::vector<std::pair<std::string, std::vector<Json>>> dims;
  int64_t count = 1;
  for (const auto& [key, _] : axes.items()) {
    const JsonValue axis(axes_value.file_ptr(), axes_value.path() + quoted_key(key), &axes_value.raw().at(key));
    check_override_path(axis, key);
    for (const auto& [earlier, _] : dims)
      if (override_paths_overlap(earlier, key))
        axis.fail(fmt::format("overlaps axis \"{}\": one would overwrite what the other sets; sweep one of them", earlier));
    std::vector<Json> values;
    std::map<std::string, size_t> seen;  // a value's JSON text -> its index (the first)
    for (const auto& v : axis.as_array(1, kMaxPoints)) {
      const Json& raw = v.raw();  // numbers compare by value (1 and 1.0 are the same point)
      const auto [it, fresh] = seen.emplace(raw.is_number() ? Json(raw.get<double>()).dump() : raw.dump(), values.size());
      if (!fresh) v.fail(fmt::format("repeats value {} ({}[{}])", v.raw().dump(), axis.path(), it->second));
      values.push_back(v.raw());
    }
    count *= static_cast<int64_t>(values.size());
    if (count > kMaxPoints) axes_value.fail(fmt::format("the grid has more than {} points", kMaxPoints));
    spec.columns.push_back(key);
    dims.emplace_back(key, std::move(values));
  }
  std::vector<size_t> at(dims.size(), 0);
  for (int64_t i = 0; i < count; ++i) {
    SweepPoint p;
    p.index = i;
    for (size_t d = 0; d < dims.size(); ++d) p.overrides.emplace_back(dims[d].first, dims[d].second[at[d]]);
    p.axis_value = at;
    spec.points.push_back(std::move(p));
    for (size_t d = dims.size(); d-- > 0;) {  // odometer: last axis fastest
      if (++at[d] < dims[d].second.size()) break;
      at[d] = 0;
    }
  }
}

void expand_list(SweepSpec& spec, const JsonValue& points_value, const OrderedJson& points) {
  const auto values = points_value.as_array(1, kMaxPoints);
  std::map<std::string, size_t> seen;  // id -> index
  for (size_t i = 0; i < values.size(); ++i) {
    values[i].as_object();
    SweepPoint p;
    p.index = static_cast<int64_t>(i);
    for (const auto& [key, value] : points[i].items()) {
      const JsonValue at(values[i].file_ptr(), values[i].path() + quoted_key(key), &values[i].raw().at(key));
      check_override_path(at, key);
      for (const auto& [earlier, _] : p.overrides)
        if (override_paths_overlap(earlier, key)) at.fail(fmt::format("overlaps \"{}\" of the same point: one would overwrite what the other sets", earlier));
      p.overrides.emplace_back(key, values[i].raw().at(key));
      if (std::find(spec.columns.begin(), spec.columns.end(), key) == spec.columns.end()) spec.columns.push_back(key);
    }
    const std::string id = point_id(p.overrides_json());
    if (auto it = seen.find(id); it != seen.end()) values[i].fail(fmt::format("same overrides as point {}", it->second));
    seen.emplace(id, i);
    spec.points.push_back(std::move(p));
  }
}

}  // namespace

MetricPath metric_path(const std::string& name) {
  MetricPath m;
  m.wildcard = !name.empty() && name.back() == '*';
  const std::string stem = m.wildcard ? name.substr(0, name.size() - 1) : name;  // "a." or "/a/" or ""
  m.prefix = stem;
  if (!stem.empty() && stem.front() == '/') {
    m.pointer = m.wildcard ? stem.substr(0, stem.size() - 1) : stem;
    return m;
  }
  const std::string dotted = m.wildcard && !stem.empty() ? stem.substr(0, stem.size() - 1) : stem;
  size_t start = 0;
  while (start < dotted.size()) {
    const size_t dot = dotted.find('.', start);
    m.pointer.append(1, '/') += escape_pointer_key(dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return m;
}

Json SweepPoint::overrides_json() const {
  Json j = Json::object();
  for (const auto& [k, v] : overrides) j[k] = v;
  return j;
}

std::string SweepPoint::describe() const {
  if (overrides.empty()) return "the base experiment";
  std::string s;
  for (const auto& [k, v] : overrides) s += (s.empty() ? "" : ", ") + k + "=" + v.dump();
  return s;
}

const std::vector<std::string>& default_sweep_metrics() {
  static const std::vector<std::string> metrics = {
      "step_time_us", "tokens_per_s", "tokens_per_s_per_device", "breakdown_us.*", "all_to_all.bytes_intra_node",
      "all_to_all.bytes_inter_node", "expert_load.device_load_max_over_mean", "drops.drop_fraction",
      "hbm.max_device_total_bytes", "hbm.usable_bytes", "hbm.fits", "invariants.max_link_utilization", "cost.device_hours_per_million_tokens", "cost.cost_per_million_tokens"};
  return metrics;
}

std::string sweep_difference(const OrderedJson& a, const OrderedJson& b, const std::string& path) {
  if (a.type() != b.type()) return path;
  if (a.is_object()) {
    auto ia = a.begin(), ib = b.begin();
    for (; ia != a.end() && ib != b.end(); ++ia, ++ib) {
      if (ia.key() != ib.key()) return path + quoted_key(ia.key());
      if (auto d = sweep_difference(*ia, *ib, path + quoted_key(ia.key())); !d.empty()) return d;
    }
    if (ia != a.end()) return path + quoted_key(ia.key());
    if (ib != b.end()) return path + quoted_key(ib.key());
    return "";
  }
  if (a.is_array()) {
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
      if (auto d = sweep_difference(a[i], b[i], fmt::format("{}[{}]", path, i)); !d.empty()) return d;
    return a.size() == b.size() ? "" : path;
  }
  return a == b ? "" : path;
}

namespace {

// FNV-1a 64 of `text`, from `basis` (the standard offset basis unless another stream is wanted).
uint64_t fnv1a64(const std::string& text, uint64_t basis = 1469598103934665603ULL) {
  uint64_t h = basis;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  return h;
}

}  // namespace

std::string point_id(const Json& overrides) { return fmt::format("{:016x}", fnv1a64(overrides.dump())); }

namespace {

// A sweep copy's "format", "moesim_version" and "shard".
void read_copy_header(ObjectReader& o, SweepSpec& spec) {
  if (o.required("format").as_string() != "moesim-sweep-copy") o.required("format").fail("expected \"moesim-sweep-copy\"");
  o.optional("moesim_version");
  if (auto sh = o.optional("shard")) {
    auto so = sh->as_object();
    spec.shard_count = so.required("count").as_int(1, kMaxPoints);
    spec.shard_index = so.required("index").as_int(0, spec.shard_count - 1);
    so.finish();
  }
}

// "base": an experiment file name (not in a copy) or an inline experiment.
void read_base(ObjectReader& o, const OrderedJson& ordered, SweepSpec& spec, bool copy) {
  const std::string& path = spec.file;
  OrderedJson& c = spec.canonical;
  const JsonValue base = o.required("base");
  if (base.is_string() && !copy) {
    spec.base_file = resolve_relative(base.as_string(), path);
    if (!std::filesystem::is_regular_file(spec.base_file)) base.fail(fmt::format("no experiment file {}", spec.base_file));
    const auto base_doc = JsonDocument::load_file(spec.base_file);
    if (!base_doc.json().is_object()) throw input_error(spec.base_file, "$", "expected an experiment object");
    spec.base = base_doc.json();
    spec.base_doc_name = spec.base_file;
    c["base_file"] = base.as_string();
    c["base"] = ordered_text(spec.base_file);
  } else {
    if (!base.is_object()) base.fail(copy ? "expected the inline base experiment" : "expected an experiment file name or an inline experiment object");
    spec.base = base.raw();
    spec.base_doc_name = path + " $.base";
    if (copy) {
      if (auto f = o.optional("base_file")) c["base_file"] = f->as_string();
    }
    c["base"] = ordered["base"];
  }
}

// "set": overrides applied to every point.
void read_set(ObjectReader& o, const OrderedJson& ordered, SweepSpec& spec) {
  if (auto st = o.optional("set")) {
    st->as_object();
    for (const auto& [key, _] : ordered["set"].items()) {
      const JsonValue v(st->file_ptr(), st->path() + quoted_key(key), &st->raw().at(key));
      check_override_path(v, key);
      for (const auto& [earlier, _] : spec.set)
        if (override_paths_overlap(earlier, key) && key.size() < earlier.size())
          v.fail(fmt::format("would overwrite \"{}\" given before it in \"set\" (give objects before the keys inside them)", earlier));
      spec.set.emplace_back(key, v.raw());
    }
    spec.canonical["set"] = ordered["set"];
  }
}

// A "set" key that every point overrides (an axis, or a key of each listed point, equal to it or
// an object holding it) has no effect. An axis on a key inside a "set" object is fine.
void check_set_not_overridden(const SweepSpec& spec) {
  for (const auto& set_entry : spec.set) {
    const std::string& key = set_entry.first;
    std::string by;
    for (const auto& p : spec.points) {
      by.clear();
      for (const auto& [path, _] : p.overrides)
        if (override_paths_overlap(path, key) && path.size() <= key.size()) by = path;
      if (by.empty()) break;
    }
    if (!by.empty())
      throw input_error(spec.file, "$.set" + quoted_key(key),
                        fmt::format("has no effect: every point overrides it ({} \"{}\"); drop it from \"set\"", spec.mode == "grid" ? "axis" : "key", by));
  }
}

// "mode" and its "axes" (grid) or "points" (list), expanded into spec.points.
void read_points(ObjectReader& o, const OrderedJson& ordered, SweepSpec& spec) {
  OrderedJson& c = spec.canonical;
  spec.mode = o.required("mode").as_choice({"grid", "list"});
  c["mode"] = spec.mode;
  const std::string mine = spec.mode == "grid" ? "axes" : "points", other = spec.mode == "grid" ? "points" : "axes";
  if (o.has(other))
    throw input_error(spec.file, "$." + other, fmt::format("\"{}\" belongs to mode \"{}\"; mode \"{}\" takes \"{}\"", other,
                                                           spec.mode == "grid" ? "list" : "grid", spec.mode, mine));
  const JsonValue body = o.required(mine);
  if (spec.mode == "grid") {
    body.as_object();
    expand_grid(spec, body, ordered["axes"]);
  } else {
    expand_list(spec, body, ordered["points"]);
  }
  c[mine] = ordered[mine];
  for (auto& p : spec.points) p.id = point_id(p.overrides_json());
  check_set_not_overridden(spec);
}

// "metrics", else the default metrics.
void read_metrics(ObjectReader& o, SweepSpec& spec) {
  if (auto m = o.optional("metrics")) {
    for (const auto& v : m->as_array(1, 10000)) {
      const std::string name = v.as_string();
      check_metric(v, name);
      const MetricPath path = metric_path(name);
      if (const std::string problem = report_field_problem(path.pointer, path.wildcard); !problem.empty())
        v.fail(fmt::format("metric \"{}\": {} (fields: sim/io/report.schema.json)", name, problem));
      if (std::find(spec.metrics.begin(), spec.metrics.end(), name) != spec.metrics.end()) v.fail(fmt::format("repeats metric \"{}\"", name));
      for (const auto& earlier : spec.metrics) {  // "a.*" and "a.b" would fill one column twice
        const MetricPath e = metric_path(earlier);
        if (e.pointer == path.pointer && e.wildcard == path.wildcard) v.fail(fmt::format("names the same value as metric \"{}\"", earlier));
        const bool wide_first = e.wildcard && !path.wildcard, wide_now = path.wildcard && !e.wildcard;
        const MetricPath& wide = wide_first ? e : path;
        const MetricPath& narrow = wide_first ? path : e;
        if ((wide_first || wide_now) && narrow.pointer.rfind(wide.pointer + "/", 0) == 0 &&
            narrow.pointer.find('/', wide.pointer.size() + 1) == std::string::npos)
          v.fail(fmt::format("metric \"{}\" is copied by \"{}\" already", wide_first ? name : earlier, wide_first ? earlier : name));
      }
      spec.metrics.push_back(name);
    }
  } else {
    spec.metrics = default_sweep_metrics();
  }
  spec.canonical["metrics"] = spec.metrics;
}

}  // namespace

SweepSpec load_sweep(const std::string& path, bool copy) {
  const auto doc = JsonDocument::load_file(path);
  const OrderedJson ordered = ordered_text(path);
  SweepSpec spec;
  spec.file = path;
  auto o = doc.root().as_object();
  OrderedJson& c = spec.canonical;
  c["format"] = "moesim-sweep-copy";
  c["moesim_version"] = MOESIM_VERSION;
  if (copy) read_copy_header(o, spec);
  spec.name = o.required("name").as_string();
  if (spec.name.empty()) o.required("name").fail("expected a name for the sweep (it titles the progress bar and the summary), got \"\"");
  if (auto d = o.optional("description")) spec.description = d->as_string();
  c["name"] = spec.name;
  c["description"] = spec.description;
  read_base(o, ordered, spec, copy);
  read_set(o, ordered, spec);
  read_points(o, ordered, spec);
  read_metrics(o, spec);
  o.finish();
  return spec;
}

// Where in the sweep file a point's error belongs: its entry in "points", or in a grid the value
// of the axis the experiment's error names (else "axes").
std::string point_path(const SweepSpec& spec, const SweepPoint& point, const std::string& error) {
  if (spec.mode == "list") return fmt::format("$.points[{}]", point.index);
  for (size_t d = 0; d < point.overrides.size() && d < point.axis_value.size(); ++d) {
    const std::string& key = point.overrides[d].first;
    const auto at = error.find("$." + key);
    const size_t end = at + 2 + key.size();
    if (at != std::string::npos && (end == error.size() || !(std::isalnum(static_cast<unsigned char>(error[end])) || error[end] == '_')))
      return fmt::format("$.axes{}[{}]", quoted_key(key), point.axis_value[d]);
  }
  return "$.axes";
}

ExperimentConfig point_experiment(const SweepSpec& spec, const SweepPoint& point) {
  try {
    Json j = spec.base;
    for (const auto& [path, value] : spec.set) apply_override(j, path + "=" + value.dump(), spec.base_doc_name);
    for (const auto& [path, value] : point.overrides) apply_override(j, path + "=" + value.dump(), spec.base_doc_name);
    return parse_experiment(JsonDocument::from_json(std::move(j), spec.base_doc_name));
  } catch (const std::exception& e) {
    throw input_error(spec.file, point_path(spec, point, e.what()), fmt::format("point {} ({}): {}", point.index, point.describe(), e.what()));
  }
}

std::pair<uint64_t, uint64_t> validate_point(const SweepSpec& spec, const SweepPoint& point) {
  ExperimentConfig config = point_experiment(spec, point);
  const std::string resolved = config.resolved.dump();
  try {
    Simulation sim(std::move(config));
  } catch (const std::exception& e) {
    throw input_error(spec.file, point_path(spec, point, e.what()), fmt::format("point {} ({}): {}", point.index, point.describe(), e.what()));
  }
  return {fnv1a64(resolved), fnv1a64(resolved, 0x6a09e667f3bcc909ULL)};
}

}  // namespace moesim
