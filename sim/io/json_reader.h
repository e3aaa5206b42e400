// Validated reading of JSON config files. Every accessor knows the file and the JSON path of
// the value it reads, so that an error names both ("exp.json: $.parallel.expert_parallel:
// expected a positive integer, got -4"). An ObjectReader remembers which keys were asked for;
// finish() rejects any other key and suggests the closest valid one.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/base/enum_table.h"
#include "sim/engine/sim_time.h"
#include "sim/io/errors.h"

namespace moesim {

// The slowest rates a file may give: below them a step's transfers or compute outlast the
// simulated clock (2^63 ps), so they are refused at their key rather than failing the run.
constexpr double kMinBandwidth_Bps = 1e6;  // 1 MB/s
constexpr double kMinFlopRate = 1e9;       // 1 GFLOP/s
constexpr double kMaxLatency_s = 1.0;      // a per-call latency (kernel launch, link, collective)

using Json = nlohmann::json;

class ObjectReader;

// A read-only view of one JSON value at a path in a file.
class JsonValue {
 public:
  JsonValue(std::shared_ptr<const std::string> file, std::string path, const Json* value)
      : file_(std::move(file)), path_(std::move(path)), value_(value) {}

  const std::string& file() const { return *file_; }
  const std::shared_ptr<const std::string>& file_ptr() const { return file_; }
  const std::string& path() const { return path_; }
  const Json& raw() const { return *value_; }
  bool is_null() const { return value_->is_null(); }
  bool is_string() const { return value_->is_string(); }
  bool is_object() const { return value_->is_object(); }
  bool is_array() const { return value_->is_array(); }

  [[noreturn]] void fail(const std::string& message) const;

  std::string as_string() const;
  bool as_bool() const;
  double as_number() const;
  double as_number(double min, double max) const;
  int64_t as_int(int64_t min, int64_t max) const;
  int64_t as_positive_int() const { return as_int(1, INT64_C(1) << 53); }
  double as_bytes() const;       // "80 GiB"
  double as_bandwidth() const;   // bytes per second, from "450 GB/s"; at least kMinBandwidth_Bps
  double as_flops_rate() const;  // FLOP per second, from "989 TFLOP/s"; at least kMinFlopRate
  SimTime as_duration() const;   // "2 us": a per-call latency, at most kMaxLatency_s
  // A string that must be one of `choices`; the error lists them and suggests the closest.
  std::string as_choice(const std::vector<std::string>& choices) const;
  // A string naming a value of an enum's name table.
  template <typename E>
  E as_enum(std::span<const EnumName<E>> table) const {
    return *parse_enum(table, as_choice(enum_names(table)));
  }

  ObjectReader as_object() const;
  // An object whose values are all strings (e.g. a "sources" table).
  std::map<std::string, std::string> as_string_map() const;
  std::vector<JsonValue> as_array() const;
  std::vector<JsonValue> as_array(size_t min_size, size_t max_size) const;

 private:
  std::shared_ptr<const std::string> file_;
  std::string path_;
  const Json* value_;
};

class ObjectReader {
 public:
  explicit ObjectReader(JsonValue object);
  JsonValue required(const std::string& key);
  std::optional<JsonValue> optional(const std::string& key);
  bool has(const std::string& key);
  // Names keys this object may hold before they are read, so that a missing required key is not
  // blamed on a valid neighbour ("moe" is no misspelling of a missing "model").
  void declare(const std::vector<std::string>& keys) { known_.insert(keys.begin(), keys.end()); }
  const JsonValue& self() const { return object_; }
  // Rejects keys that were never asked for, naming the closest asked-for key.
  void finish() const;

 private:
  JsonValue object_;
  std::set<std::string> known_;
};

// A parsed JSON document that owns its text; values point into it.
class JsonDocument {
 public:
  // Parses a JSON file (regular, at most kMaxJsonFileBytes, nesting at most kMaxJsonDepth, no
  // duplicate keys); a file read before with the same size and modification time is not parsed
  // again. Throws InputError naming the file and the line or JSON path.
  static JsonDocument load_file(const std::string& path);
  static JsonDocument from_json(Json value, const std::string& name);
  // Parses JSON text held elsewhere (a trace's header) with load_file's checks; `name` stands for
  // the file in errors ("trace.npz: meta").
  static JsonDocument parse_text(const std::string& text, const std::string& name);
  JsonValue root() const { return JsonValue(file_, "$", value_.get()); }
  const Json& json() const { return *value_; }

 private:
  static JsonDocument parse_file(const std::string& path);
  std::shared_ptr<const std::string> file_;
  std::shared_ptr<const Json> value_;
};

// Parses JSON text as nlohmann::json::parse does (its exceptions on syntax errors); the JSON
// path of the first key an object repeats goes to `duplicate_path` (empty when none).
Json parse_json_text(const std::string& text, std::string* duplicate_path);

// Applies "a.b.c=value" to a JSON object; the value is parsed as JSON when it parses, else
// taken as a string. Creates missing objects along the path.
void apply_override(Json& root, const std::string& assignment, const std::string& file);

// Whether override paths `a` and `b` touch the same value: equal, or one is an object the other
// is a key inside ("moe" and "moe.capacity_factor").
bool override_paths_overlap(const std::string& a, const std::string& b);

// Refuses a list of "path=value" overrides, applied in order, where one would undo an earlier
// one: the same path twice, or an object given after a key inside it (an object given first and
// then a key inside it is a refinement, and fine). `what` names them in the error ("--set").
void check_override_order(const std::vector<std::string>& assignments, const std::string& what);

size_t edit_distance(const std::string& a, const std::string& b);
// The candidate the word begins (3 or more characters), else the one at the least edit distance.
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

// A key as error messages show it: long keys (a pasted blob) cut to their first 60 characters
// with their length, so an error stays one short line.
std::string shown_key(const std::string& key);

// The deepest nesting of arrays and objects in JSON text (outside strings). Callers refuse text
// nested deeper than kMaxJsonDepth before parsing: destroying, printing or walking it would
// recurse too deep.
inline constexpr int kMaxJsonDepth = 256;
int json_depth(const char* begin, const char* end);

// parse(doc.root()) computed once per parsed document and then shared: JsonDocument::load_file
// reuses a file's document while the file is unchanged, so tables built from it (calibration,
// op tables) are built once per sweep instead of once per point, and not copied per point either.
// Keeps each document alive with its value, so a document's address is never reused while
// cached; at most 64 entries.
template <class T, class Parse>
std::shared_ptr<const T> parse_once(const JsonDocument& doc, Parse parse) {
  static std::mutex mutex;
  static std::map<const Json*, std::pair<JsonDocument, std::shared_ptr<const T>>> cache;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (const auto it = cache.find(&doc.json()); it != cache.end()) return it->second.second;
  }
  auto value = std::make_shared<const T>(parse(doc.root()));
  std::lock_guard<std::mutex> lock(mutex);
  if (cache.size() >= 64) cache.clear();
  cache.emplace(&doc.json(), std::make_pair(doc, value));
  return value;
}

}  // namespace moesim
