#include "sim/cli/cli_cost_common.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "sim/io/errors.h"
#include "sim/scenario/data_paths.h"
#include "sim/io/input_file.h"

namespace moesim::cli {

const DeviceCostModel& CostModels::get(Dtype expert_dtype) {
  auto& m = models_[expert_dtype];
  if (!m) {
    DeviceCostOptions o;
    o.expert_backend = backend_;
    o.allow_extrapolation = allow_;
    o.expert_dtype = expert_dtype;
    o.data_dir = data_dir();
    m = std::make_unique<DeviceCostModel>(hw_, o);
  }
  return *m;
}

std::vector<int64_t> parse_whole_list(const std::string& text, const std::string& where, int64_t min, int64_t max, const std::string& what) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long long v = -1;
    try {
      if (!item.empty() && std::isdigit(static_cast<unsigned char>(item[0]))) v = std::stoll(item, &used, 10);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || v < min || v > max)
      throw InputError(fmt::format("{}: expected comma-separated {} (no spaces), got \"{}\"", where, what, item));
    out.push_back(v);
  }
  if (out.empty() || text.back() == ',')
    throw InputError(fmt::format("{}: expected comma-separated {} (no spaces), got \"{}\"", where, what, text));
  return out;
}

std::vector<int64_t> parse_counts(const std::string& text, const std::string& where) {
  return parse_whole_list(text, where, 0, std::numeric_limits<int64_t>::max(), "token counts >= 0");
}

int run_batch_lines(const std::string& path, const std::function<Json(const std::string& line, const std::string& where)>& answer) {
  std::ifstream file;
  if (path != "-") {
    check_input_file(path, kMaxTextFileBytes, "a query file");
    file.open(path);
    if (!file) throw InputError(fmt::format("{}: cannot read", path));
  }
  std::istream& in = path == "-" ? std::cin : file;
  std::string line;
  int status = 0;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    if (line.empty() || line[0] == '#') continue;
    const std::string where = fmt::format("{}:{}", path, lineno);
    Json out;
    try {
      out = answer(line, where);
    } catch (const std::exception& e) {  // one refused query does not end the batch; the exit status says so
      const std::string what = e.what();  // errors that name their line already are not prefixed twice
      out = Json{{"error", what.rfind(where + ":", 0) == 0 ? what : fmt::format("{}: {}", where, what)}};
      status = 1;
    }
    fmt::print("{}\n", out.dump());
  }
  return status;
}

}  // namespace moesim::cli
