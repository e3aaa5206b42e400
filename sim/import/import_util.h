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

// The deepest nesting of arrays and objects in JSON text (outside strings). Callers refuse text
// nested deeper than kMaxJsonDepth before parsing: printing or walking it would recurse too deep.
constexpr int kMaxJsonDepth = 256;
int json_depth(const char* begin, const char* end);

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
