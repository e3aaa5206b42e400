#include "sim/io/expert_counts_file.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "sim/io/atomic_file.h"
#include "sim/io/input_file.h"
#include "sim/io/json_reader.h"

namespace moesim {
namespace {

std::vector<std::vector<double>> read_matrix(const JsonValue& v) {
  std::vector<std::vector<double>> rows;
  size_t width = 0;
  for (const auto& row : v.as_array(1, 100000)) {
    std::vector<double> r;
    for (const auto& x : row.as_array(1, 1 << 20)) r.push_back(x.as_number(0.0, 1e18));
    if (width && r.size() != width) row.fail(fmt::format("expected {} experts like the first row, got {}", width, r.size()));
    width = r.size();
    rows.push_back(std::move(r));
  }
  return rows;
}

void read_pair_counts(const JsonValue& v, ExpertCounts& c) {
  if (!v.is_object()) v.fail("expected an object of \"A->B\": [[E] x E] matrices");
  for (auto it = v.raw().begin(); it != v.raw().end(); ++it) {
    const JsonValue m(v.file_ptr(), v.path() + "." + it.key(), &it.value());
    int64_t from = 0, to = 0;
    if (!parse_layer_pair(it.key(), from, to)) m.fail("key must be \"A->B\" with two layer ids, such as \"0->7\"");
    for (int64_t l : {from, to})
      if (std::find(c.layers.begin(), c.layers.end(), l) == c.layers.end())
        m.fail(fmt::format("layer {} is not one of \"layers\"", l));
    if (from == to) m.fail("pairs must join two different layers");
    auto rows = read_matrix(m);
    if (static_cast<int64_t>(rows.size()) != c.num_experts || static_cast<int64_t>(rows[0].size()) != c.num_experts)
      m.fail(fmt::format("expected a {0} x {0} matrix (num_experts), got {1} x {2}", c.num_experts, rows.size(), rows[0].size()));
    c.pair_counts[it.key()] = std::move(rows);
  }
}

// JsonDocument::load_file reports syntax errors as InputErrors but lets nlohmann's out_of_range
// (a number such as 1e999) through; make that one an InputError too.
JsonDocument load_document(const std::string& path) {
  // SGLang's early recorder wrote CSV (layer_id,expert_id,count); say so instead of "invalid JSON".
  if (read_input_prefix(path, kMaxJsonFileBytes, "a counts file", 24) == "layer_id,expert_id,count")
    throw input_error(path, "line 1", "SGLang's CSV expert-distribution dump, not counts JSON: convert it with `moesim trace import --from sglang-counts FILE OUT.json`");
  try {
    return JsonDocument::load_file(path);
  } catch (const Json::exception& e) {
    std::string what = e.what();  // "[json.exception.out_of_range.406] number overflow parsing '1e999'"
    if (const auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    throw input_error(path, "", "invalid JSON: " + what);
  }
}

std::string number_text(double x) {
  if (std::floor(x) == x && std::fabs(x) < 9.007199254740992e15) return std::to_string(static_cast<int64_t>(x));
  return Json(x).dump();
}

std::string matrix_text(const std::vector<std::vector<double>>& m, const char* indent) {
  std::string out = "[\n";
  for (size_t i = 0; i < m.size(); ++i) {
    out += indent;
    out += "[";
    for (size_t j = 0; j < m[i].size(); ++j) out += (j ? ", " : "") + number_text(m[i][j]);
    out += i + 1 < m.size() ? "],\n" : "]\n";
  }
  return out + std::string(indent, std::strlen(indent) - 2) + "]";
}

}  // namespace

bool parse_layer_pair(const std::string& key, int64_t& from, int64_t& to) {
  const auto arrow = key.find("->");
  if (arrow == std::string::npos || arrow == 0 || arrow + 2 >= key.size()) return false;
  auto number = [](const char* b, const char* e, int64_t& out) {
    if (b == e || !std::all_of(b, e, [](char ch) { return ch >= '0' && ch <= '9'; }) || e - b > 6) return false;
    return std::from_chars(b, e, out).ec == std::errc();
  };
  return number(key.data(), key.data() + arrow, from) && number(key.data() + arrow + 2, key.data() + key.size(), to);
}

ExpertCounts load_expert_counts(const std::string& path) {
  const auto doc = load_document(path);
  auto o = doc.root().as_object();
  ExpertCounts c;
  if (o.has("logical_count")) {
    c.format = "sglang-logical-count";
    c.counts = read_matrix(o.required("logical_count"));
    for (size_t i = 0; i < c.counts.size(); ++i) c.layers.push_back(static_cast<int64_t>(i));
  } else if (o.has("format")) {
    o.required("format").as_choice({"moesim-counts"});
    c.format = "moesim-counts";
    if (auto m = o.optional("model")) c.model = m->as_string();
    if (auto s = o.optional("source")) c.source = s->as_string();
    if (auto k = o.optional("top_k")) c.top_k = k->as_positive_int();
    auto layers = o.required("layers").as_array(1, 100000);
    for (const auto& l : layers) {
      c.layers.push_back(l.as_int(0, 100000));
      if (std::count(c.layers.begin(), c.layers.end(), c.layers.back()) > 1) l.fail(fmt::format("layer {} is listed twice", c.layers.back()));
    }
    c.counts = read_matrix(o.required("counts"));
    if (c.counts.size() != c.layers.size())
      o.required("counts").fail(fmt::format("has {} rows but \"layers\" lists {}", c.counts.size(), c.layers.size()));
  } else {
    doc.root().fail("not an expert-count file: expected \"logical_count\" (SGLang) or \"format\": \"moesim-counts\"");
  }
  if (auto n = o.optional("num_experts")) {
    c.num_experts = n->as_positive_int();
    if (static_cast<int64_t>(c.counts[0].size()) != c.num_experts)
      n->fail(fmt::format("num_experts {} but rows have {} columns", c.num_experts, c.counts[0].size()));
  }
  c.num_experts = static_cast<int64_t>(c.counts[0].size());
  if (c.top_k > c.num_experts) o.required("top_k").fail(fmt::format("top_k {} exceeds the {} experts", c.top_k, c.num_experts));
  if (c.format == "moesim-counts")
    if (auto p = o.optional("pair_counts")) read_pair_counts(*p, c);
  o.finish();
  return c;
}

void write_expert_counts(const std::string& path, const ExpertCounts& c) {
  std::string out = "{\n";
  out += "  \"format\": \"moesim-counts\",\n";
  out += "  \"model\": " + Json(c.model).dump() + ",\n";
  if (!c.source.empty()) out += "  \"source\": " + Json(c.source).dump() + ",\n";
  if (c.top_k > 0) out += fmt::format("  \"top_k\": {},\n", c.top_k);
  out += fmt::format("  \"num_experts\": {},\n", c.num_experts);
  out += "  \"layers\": " + Json(c.layers).dump() + ",\n";
  out += "  \"counts\": " + matrix_text(c.counts, "    ");
  if (!c.pair_counts.empty()) {
    out += ",\n  \"pair_counts\": {";
    bool first = true;
    for (const auto& [key, m] : c.pair_counts) {
      out += (first ? "\n    " : ",\n    ") + Json(key).dump() + ": " + matrix_text(m, "      ");
      first = false;
    }
    out += "\n  }";
  }
  out += "\n}\n";
  write_file_atomically(path, out);
}

}  // namespace moesim
