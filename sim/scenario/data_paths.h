// Where the bundled data lives (models/, hw_profiles/, experiments/) and how a name or a
// relative path in an experiment file is resolved to a file.
#pragma once
#include <string>
#include <vector>

namespace moesim {

// MOESIM_DATA_DIR if set, else the source tree the binary was built from.
std::string data_dir();

// A value that names a bundled entry ("deepseek-v3") maps to data_dir()/folder/NAME.json; a value
// with a '/' or ending in ".json" (or other extension) is a path relative to `relative_to`'s folder,
// except that "FOLDER/NAME.json" (models/..., hw_profiles/...) that is not there is the bundled file.
std::string resolve_data_file(const std::string& value, const std::string& folder, const std::string& relative_to);
std::string resolve_relative(const std::string& path, const std::string& relative_to);

// What to say when `value` (resolved to `path`) names no file: "no model "x" (file P not found);
// did you mean "y"?", `kind` the entry's kind ("model") and the suggestion from `folder`'s entries.
std::string missing_data_file(const std::string& value, const std::string& path, const std::string& folder, const std::string& kind);

// Names of the bundled entries of a folder (file stems of *.json, sorted), skipping
// "*.calibration.json".
std::vector<std::string> bundled_names(const std::string& folder);

}  // namespace moesim
