// Helpers shared by the importers: reading whole files and JSONL records with line numbers,
// checking --model/--experts/--top-k/--layers against the data, and final checks of a trace
// or counts before it is written.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sim/import/importers.h"
#include "sim/io/json_reader.h"

namespace moesim::import {

// The whole file as bytes; InputError when it cannot be read.
std::string read_file(const std::string& path);

// JsonDocument::load_file, also turning nlohmann's out-of-range errors (a number such as 1e999)
// into an InputError naming the line and column.
JsonDocument load_json(const std::string& path);

// The file name without its folders, for `source` strings.
std::string base_name(const std::string& path);

// Calls `record(line, value)` for each non-blank line of a JSONL file. `value` reports errors as
// "FILE: line N: $.key: ..."; a line that is not JSON is reported with its number, and a last
// line without its newline is called out as a truncated file.
void for_each_jsonl(const std::string& path, const std::function<void(int64_t line, const JsonValue& record)>& record);

// --model, else `fallback`; InputError naming the format when both are empty.
std::string model_name(const ImportOptions& o, const std::string& fallback, const std::string& format);

// --experts when given, else `from_data`; InputError when both are 0 or they disagree.
int64_t expert_count(const std::string& file, const ImportOptions& o, int64_t from_data, const std::string& format);

// Checks --top-k against the data's top-k (when both are known).
void check_top_k(const std::string& file, const std::string& where, const ImportOptions& o, int64_t from_data);

// The model and layer ids of data that names neither, with `experts` experts and `rows` layers:
// --model if given (its experts and layer count checked when it is a bundled model), else the one
// bundled model with that many experts and that many layers (all of them, or its MoE layers);
// several or none is an error saying to pass --model. Layer ids: --layers if given, else the
// model's MoE layer ids when rows is their count, else 0..rows-1 when rows is the model's layer
// count (dense rows included); for a model that is not bundled, 0..rows-1.
struct ModelAndLayers {
  std::string model;
  std::vector<int64_t> layers;
};
ModelAndLayers model_and_layers(const std::string& file, const ImportOptions& o, int64_t experts, int64_t rows, const std::string& format);

// Layer ids for a layer axis of `n` positions: --layers (must have n entries) or 0..n-1.
std::vector<int64_t> positional_layers(const std::string& file, const ImportOptions& o, int64_t n);

// For data whose records carry layer ids: --layers, when given, must list exactly the ids seen.
void check_layer_set(const std::string& file, const ImportOptions& o, const std::vector<int64_t>& seen);

// An expert id: integer in [0, experts).
int32_t expert_id(const JsonValue& v, int64_t experts);

// Checks every row of a counts matrix: finite, >= 0; when top_k > 0 and the row is whole
// numbers, its sum must be a multiple of top_k. `where(row)` names the row in errors.
void check_counts(const std::string& file, const std::vector<std::vector<double>>& rows, int64_t top_k,
                  const std::function<std::string(size_t)>& where);

}  // namespace moesim::import
