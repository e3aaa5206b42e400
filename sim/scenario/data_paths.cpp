#include "sim/scenario/data_paths.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "sim/io/json_reader.h"

namespace fs = std::filesystem;

namespace moesim {

std::string data_dir() {
  if (const char* env = std::getenv("MOESIM_DATA_DIR"); env && *env) return env;
  return MOESIM_SOURCE_DIR;
}

std::string resolve_relative(const std::string& path, const std::string& relative_to) {
  const fs::path p(path);
  if (p.is_absolute() || relative_to.empty()) return path;
  return (fs::path(relative_to).parent_path() / p).lexically_normal().string();
}

std::string resolve_data_file(const std::string& value, const std::string& folder, const std::string& relative_to) {
  const bool looks_like_path = value.find('/') != std::string::npos || fs::path(value).has_extension();
  if (looks_like_path) {
    // "models/NAME.json" (README: Experiment files) names the bundled file unless the experiment's
    // folder holds one of that path.
    const std::string near = resolve_relative(value, relative_to);
    std::error_code ec;
    if (!fs::exists(near, ec) && fs::path(value).is_relative() && value.rfind(folder + "/", 0) == 0) return (fs::path(data_dir()) / value).string();
    return near;
  }
  return (fs::path(data_dir()) / folder / (value + ".json")).string();
}

std::string missing_data_file(const std::string& value, const std::string& path, const std::string& folder, const std::string& kind) {
  return fmt::format("no {} \"{}\" (file {} not found); did you mean \"{}\"?", kind, shown_key(value), path, closest(value, bundled_names(folder)));
}

std::vector<std::string> bundled_names(const std::string& folder) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::path(data_dir()) / folder, ec)) {
    const auto name = entry.path().filename().string();
    if (entry.path().extension() != ".json") continue;
    if (name.ends_with(".calibration.json") || name.ends_with(".ops.json")) continue;  // measured tables, not profiles
    out.push_back(entry.path().stem().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace moesim
