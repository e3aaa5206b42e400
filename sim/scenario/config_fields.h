// Every key of an experiment's sections, written once: its section, name, JSON type, unit,
// default, accepted values and meaning, how it is read into an ExperimentConfig and how it is
// written back into the resolved experiment (report.json's "experiment"). The parser reads each
// section by walking this table (experiment_config.cpp adds the checks that span several keys),
// `moesim list keys` prints it, and the README's key table is generated from it.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sim/io/json_reader.h"
#include "sim/scenario/experiment_config.h"

namespace moesim {

struct ConfigField {
  std::string section;        // "cluster", or "" for top-level keys
  std::string key;
  std::string type;           // "integer", "number", "string", "boolean", "bytes", "bandwidth", "choice", ...
  std::string unit;           // "" when dimensionless
  std::string default_value;  // as an experiment would write it; "required" when it must be given
  std::string description;
  std::function<std::vector<std::string>()> choices;  // for "choice": the accepted names
  std::function<void(const JsonValue&, ExperimentConfig&)> read;
  // The key's value in the resolved experiment, or nullopt when it does not apply there.
  std::function<std::optional<Json>(const ExperimentConfig&)> write;
  std::string resolved_key;   // its name there, when not `key` (a unit suffix: "workspace_bytes")
  bool required = false;      // in every experiment that has the section
  // For choices that are a registry's entries: the command that lists them, as the README's table
  // shows it instead of the names (so that adding an entry does not touch the README).
  std::string choices_listed_by;
};

const std::vector<ConfigField>& config_fields();

// Reads the table's keys of `section` that `o` holds (required ones must be there); returns the
// keys it read.
std::vector<std::string> read_section(ObjectReader& o, const std::string& section, ExperimentConfig& e);

// The resolved experiment: model and hardware inlined, every section's keys with their values.
Json resolved_experiment(const ExperimentConfig& e);

// The table as JSON (`moesim list keys --json`) and as the README's Markdown table.
Json config_fields_json();
std::string config_fields_markdown();

}  // namespace moesim
