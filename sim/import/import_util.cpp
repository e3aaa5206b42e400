// Shared importer helpers (see import_util.h).
#include "sim/import/import_util.h"
#include "sim/io/input_file.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace moesim::import {

std::string read_file(const std::string& path) {
  return read_input_file(path, kMaxJsonFileBytes * 8, "a file read whole");
}

JsonDocument load_json(const std::string& path) {
  try {
    return JsonDocument::load_file(path);
  } catch (const Json::exception& e) {  // parse errors are InputErrors already; this is the rest
    std::string what = e.what();
    std::string where;
    const auto q1 = what.find('\''), q2 = what.rfind('\'');
    if (q1 != std::string::npos && q2 > q1 + 1) {
      const std::string text = read_file(path), token = what.substr(q1 + 1, q2 - q1 - 1);
      if (const auto at = text.find(token); at != std::string::npos) {
        const auto line_start = text.rfind('\n', at);
        const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
        where = fmt::format("line {} column {}", line, at - (line_start == std::string::npos ? 0 : line_start + 1) + 1);
      }
    }
    if (const auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    throw input_error(path, where, "invalid JSON: " + what);
  }
}

std::string base_name(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const auto slash = p.find_last_of('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

void for_each_jsonl(const std::string& path, const std::function<void(int64_t, const JsonValue&)>& record) {
  check_input_file(path, kMaxTextFileBytes, "a JSONL trace");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path, "", "cannot open file");
  std::string text;
  int64_t line = 0, records = 0;
  while (std::getline(in, text)) {
    ++line;
    const bool unterminated = in.eof();
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    if (json_depth(text.data(), text.data() + text.size()) > kMaxJsonDepth)
      throw input_error(path, fmt::format("line {}", line), fmt::format("JSON nested deeper than {} levels", kMaxJsonDepth));
    Json j;
    std::string duplicate;
    try {
      j = parse_json_text(text, &duplicate);
    } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
      std::string what = e.what();
      const auto p = what.find("parse error");
      if (p != std::string::npos) what = what.substr(p);
      else if (const auto b = what.find("] "); what.rfind("[json.exception", 0) == 0 && b != std::string::npos) what = what.substr(b + 2);
      if (const auto l = what.find("; last read:"); l != std::string::npos) what.resize(l);
      const std::string within = "parse error at line 1, column ";  // nlohmann counts within the line
      if (what.rfind(within, 0) == 0) what = "parse error at column " + what.substr(within.size());
      std::string hint;
      if (text.find("NaN") != std::string::npos || text.find("Infinity") != std::string::npos)
        hint = " (NaN and Infinity are not JSON numbers: the recorder wrote a non-finite value)";
      else if (unterminated) hint = " (the last line ends mid-record: truncated file?)";
      throw input_error(path, fmt::format("line {}", line), "invalid JSON: " + what + hint);
    }
    if (!duplicate.empty())
      throw input_error(path, fmt::format("line {}", line), fmt::format("{}: duplicate key (which one counts would be a guess)", duplicate));
    const auto doc = JsonDocument::from_json(std::move(j), fmt::format("{}: line {}", path, line));
    record(line, doc.root());
    ++records;
  }
  if (in.bad()) throw input_error(path, fmt::format("line {}", line + 1), "read error");
  if (records == 0) throw input_error(path, "", "no records (empty file?)");
}

std::string model_name(const ImportOptions& o, const std::string& fallback, const std::string& format) {
  if (!o.model.empty()) return o.model;
  if (!fallback.empty()) return fallback;
  throw InputError(fmt::format("--model NAME is required for {} (the data does not name its model)", format));
}

int64_t expert_count(const std::string& file, const ImportOptions& o, int64_t from_data, const std::string& format) {
  if (o.experts > 0 && from_data > 0 && o.experts != from_data)
    throw input_error(file, "", fmt::format("--experts {} but the data has {} experts", o.experts, from_data));
  if (o.experts > 0) return o.experts;
  if (from_data > 0) return from_data;
  throw InputError(fmt::format("--experts N is required for {} (the data does not record the expert count)", format));
}

void check_top_k(const std::string& file, const std::string& where, const ImportOptions& o, int64_t from_data) {
  if (o.top_k > 0 && from_data > 0 && o.top_k != from_data)
    throw input_error(file, where, fmt::format("top-k mismatch: --top-k {} but the data has top-k {}", o.top_k, from_data));
}

namespace {

bool shape_fits(const ModelShape& m, int64_t experts, int64_t rows) {
  return m.num_experts == experts && (m.num_layers == rows || static_cast<int64_t>(m.moe_layers.size()) == rows);
}

std::string shape_text(const ModelShape& m) {
  return fmt::format("{} ({} experts, {} layers, {} MoE)", m.name, m.num_experts, m.num_layers, m.moe_layers.size());
}

}  // namespace

ModelAndLayers model_and_layers(const std::string& file, const ImportOptions& o, int64_t experts, int64_t rows, const std::string& format) {
  const ModelShape* shape = nullptr;
  if (!o.model.empty()) {
    for (const auto& m : o.models)
      if (m.name == o.model) shape = &m;
    if (shape && !shape_fits(*shape, experts, rows) && o.layers.empty())
      throw input_error(file, "", fmt::format("the data has {} experts and {} layers, but --model {} does not fit it: {}", experts, rows, o.model, shape_text(*shape)));
    if (shape && shape->num_experts != experts)
      throw input_error(file, "", fmt::format("the data has {} experts, but --model {} has {}", experts, o.model, shape->num_experts));
  } else {
    std::vector<const ModelShape*> fits;
    for (const auto& m : o.models)
      if (shape_fits(m, experts, rows)) fits.push_back(&m);
    if (fits.size() != 1) {
      std::vector<std::string> names;
      for (const auto* m : fits) names.push_back(m->name);
      throw InputError(fits.empty() ? fmt::format("--model NAME is required for {}: the data ({} experts, {} layers) names no model and no bundled model has that shape", format, experts, rows)
                                    : fmt::format("--model NAME is required for {}: {} bundled models have {} experts and {} layers ({})", format, fits.size(), experts, rows,
                                                  fmt::join(names, ", ")));
    }
    shape = fits[0];
  }
  ModelAndLayers out{o.model.empty() ? shape->name : o.model, {}};
  const bool moe_rows = o.layers.empty() && shape && static_cast<int64_t>(shape->moe_layers.size()) == rows;
  out.layers = moe_rows ? shape->moe_layers : positional_layers(file, o, rows);
  return out;
}

std::vector<int64_t> positional_layers(const std::string& file, const ImportOptions& o, int64_t n) {
  if (o.layers.empty()) {
    std::vector<int64_t> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = i;
    return out;
  }
  if (static_cast<int64_t>(o.layers.size()) != n)
    throw input_error(file, "", fmt::format("wrong layer count: --layers lists {} layers but the data has {}", o.layers.size(), n));
  return o.layers;
}

void check_layer_set(const std::string& file, const ImportOptions& o, const std::vector<int64_t>& seen) {
  if (o.layers.empty()) return;
  const std::set<int64_t> want(o.layers.begin(), o.layers.end()), got(seen.begin(), seen.end());
  for (int64_t l : want)
    if (!got.count(l))
      throw input_error(file, "", fmt::format("wrong layer count: --layers lists layer {} but no record has it ({} layers in the data)", l, got.size()));
  for (int64_t l : got)
    if (!want.count(l))
      throw input_error(file, "", fmt::format("wrong layer count: the data has layer {}, which --layers does not list", l));
}

int32_t expert_id(const JsonValue& v, int64_t experts) {
  if (!v.raw().is_number_integer()) v.fail("expected an integer expert id, got " + v.raw().dump());
  const int64_t id = v.raw().is_number_unsigned() && v.raw().get<uint64_t>() > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : v.raw().get<int64_t>();
  if (id < 0 || id >= experts) v.fail(fmt::format("expert id {} out of range [0, {})", id, experts));
  return static_cast<int32_t>(id);
}

void check_counts(const std::string& file, const std::vector<std::vector<double>>& rows, int64_t top_k,
                  const std::function<std::string(size_t)>& where) {
  for (size_t r = 0; r < rows.size(); ++r) {
    double sum = 0;
    bool whole = true;
    for (size_t e = 0; e < rows[r].size(); ++e) {
      const double x = rows[r][e];
      if (!std::isfinite(x)) throw input_error(file, fmt::format("{}[{}]", where(r), e), "count is not finite");
      if (x < 0) throw input_error(file, fmt::format("{}[{}]", where(r), e), fmt::format("negative count {}", x));
      whole = whole && std::floor(x) == x;
      sum += x;
    }
    if (top_k > 0 && whole && sum < 9e15 && std::fmod(sum, static_cast<double>(top_k)) != 0)
      throw input_error(file, where(r),
                        fmt::format("top-k mismatch: the counts sum to {}, not a multiple of top-k {} (every token picks top-k experts)", sum, top_k));
  }
}

}  // namespace moesim::import
