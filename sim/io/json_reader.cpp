#include "sim/io/json_reader.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "sim/io/input_file.h"
#include "sim/io/units.h"

namespace moesim {
namespace {

std::string describe(const Json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

std::string join_quoted(const std::vector<std::string>& words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) out += (i ? ", \"" : "\"") + words[i] + "\"";
  return out;
}

}  // namespace

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  // A candidate the word begins (a name written short, "cublas" for "cublas-grouped") comes first.
  if (word.size() >= 3)
    for (const auto& c : candidates)
      if (c.size() > word.size() && c.compare(0, word.size(), word) == 0) return c;
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

void JsonValue::fail(const std::string& message) const { throw input_error(*file_, path_, message); }

std::string JsonValue::as_string() const {
  if (!value_->is_string()) fail("expected a string, got " + describe(*value_));
  const std::string& s = value_->get_ref<const std::string&>();
  if (s.find('\0') != std::string::npos) fail("a NUL character (\\u0000) in the string; no value takes one");
  return s;
}

bool JsonValue::as_bool() const {
  if (!value_->is_boolean()) fail("expected true or false, got " + describe(*value_));
  return value_->get<bool>();
}

double JsonValue::as_number() const {
  if (!value_->is_number()) fail("expected a number, got " + describe(*value_));
  const double v = value_->get<double>();
  if (!std::isfinite(v)) fail("expected a finite number");
  return v;
}

double JsonValue::as_number(double min, double max) const {
  const double v = as_number();
  if (v < min || v > max) fail(fmt::format("expected a number in [{}, {}], got {}", min, max, describe(*value_)));
  return v;
}

int64_t JsonValue::as_int(int64_t min, int64_t max) const {
  if (!value_->is_number_integer()) {
    const bool whole_float = value_->is_number_float() && std::floor(value_->get<double>()) == value_->get<double>();
    if (!whole_float) fail("expected an integer, got " + describe(*value_));
  }
  const double d = value_->get<double>();
  // Integers compare exactly (2^53 + 1 as a double is 2^53); unsigned ones above INT64_MAX are out.
  const bool too_big = value_->is_number_unsigned() && value_->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX);
  const bool out_of_range = too_big || (value_->is_number_integer() ? value_->get<int64_t>() < min || value_->get<int64_t>() > max
                                                                    : d < static_cast<double>(min) || d > static_cast<double>(max));
  if (out_of_range) {
    if (min == 1 && max >= (INT64_C(1) << 53))
      fail("expected a positive integer, got " + describe(*value_));
    fail(fmt::format("expected an integer in [{}, {}], got {}", min, max, describe(*value_)));
  }
  return value_->is_number_integer() ? value_->get<int64_t>() : static_cast<int64_t>(d);
}

double JsonValue::as_bytes() const {
  if (!value_->is_string()) fail("expected a size with units such as \"80 GiB\", got " + describe(*value_));
  try {
    return units::parse_bytes(as_string());
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  }
}

double JsonValue::as_bandwidth() const {
  if (!value_->is_string()) fail("expected a bandwidth with units such as \"450 GB/s\", got " + describe(*value_));
  double v = 0;
  try {
    v = units::parse_bandwidth(as_string());
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  }
  // Below 1 MB/s (1 Gb Ethernet moves 125 MB/s) a step's transfers outlast the simulated clock.
  if (v < kMinBandwidth_Bps) fail(fmt::format("expected a bandwidth of at least 1 MB/s (slower than any interconnect or memory), got {}", describe(*value_)));
  return v;
}

double JsonValue::as_flops_rate() const {
  if (!value_->is_string()) fail("expected a FLOP rate with units such as \"989 TFLOP/s\", got " + describe(*value_));
  double v = 0;
  try {
    v = units::parse_flops_rate(as_string());
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  }
  // Below 1 GFLOP/s (a phone CPU core) a step's compute outlasts the simulated clock.
  if (v < kMinFlopRate) fail(fmt::format("expected a FLOP rate of at least 1 GFLOP/s (slower than any accelerator), got {}", describe(*value_)));
  return v;
}

SimTime JsonValue::as_duration() const {
  if (!value_->is_string()) fail("expected a duration with units such as \"2 us\", got " + describe(*value_));
  SimTime t;
  try {
    t = units::parse_duration(as_string());
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  } catch (const std::overflow_error& e) {
    fail(std::string("duration out of range: ") + e.what());
  }
  // Every duration a file gives is a per-call latency (kernel launch, link, collective); one
  // above 1 s, paid by every call of a step, would make the step outlast the simulated clock.
  if (t > SimTime::from_seconds(kMaxLatency_s))
    fail(fmt::format("expected a latency of at most 1 s (kernel launches and network latencies are microseconds), got {}", describe(*value_)));
  return t;
}

std::string JsonValue::as_choice(const std::vector<std::string>& choices) const {
  const std::string s = as_string();
  if (std::find(choices.begin(), choices.end(), s) != choices.end()) return s;
  fail(fmt::format("unknown value \"{}\"; did you mean \"{}\"? (one of {})", s, closest(s, choices), join_quoted(choices)));
}

ObjectReader JsonValue::as_object() const {
  if (!value_->is_object()) fail("expected an object, got " + describe(*value_));
  return ObjectReader(*this);
}

std::map<std::string, std::string> JsonValue::as_string_map() const {
  if (!value_->is_object()) fail("expected an object of strings, got " + describe(*value_));
  std::map<std::string, std::string> out;
  for (auto it = value_->begin(); it != value_->end(); ++it)
    out[it.key()] = JsonValue(file_, path_ + "." + it.key(), &it.value()).as_string();
  return out;
}

std::vector<JsonValue> JsonValue::as_array() const {
  if (!value_->is_array()) fail("expected an array, got " + describe(*value_));
  std::vector<JsonValue> out;
  out.reserve(value_->size());
  for (size_t i = 0; i < value_->size(); ++i)
    out.emplace_back(file_, fmt::format("{}[{}]", path_, i), &(*value_)[i]);
  return out;
}

std::vector<JsonValue> JsonValue::as_array(size_t min_size, size_t max_size) const {
  auto out = as_array();
  if (out.size() < min_size || out.size() > max_size)
    fail(fmt::format("expected an array of {} to {} elements, got {}", min_size, max_size, out.size()));
  return out;
}

ObjectReader::ObjectReader(JsonValue object) : object_(std::move(object)) {}

std::string shown_key(const std::string& key) {
  if (key.size() <= 80) return key;
  return fmt::format("{}... ({} characters)", key.substr(0, 60), key.size());
}

JsonValue ObjectReader::required(const std::string& key) {
  known_.insert(key);
  auto it = object_.raw().find(key);
  if (it == object_.raw().end()) {
    // A near-miss spelling present in the object is the likelier mistake: name it, unless it is a
    // key this object takes (declared or read already).
    for (auto k = object_.raw().begin(); k != object_.raw().end(); ++k) {
      const size_t d = edit_distance(k.key(), key);
      if (d > 0 && d <= std::max<size_t>(2, key.size() / 4) && !known_.count(k.key()))
        throw input_error(object_.file(), object_.path() + "." + shown_key(k.key()),
                          fmt::format("unknown key \"{}\"; did you mean \"{}\"? (required key \"{}\" is missing)", shown_key(k.key()), key, key));
    }
    object_.fail(fmt::format("missing required key \"{}\"", key));
  }
  return JsonValue(object_.file_ptr(), object_.path() + "." + key, &*it);
}

std::optional<JsonValue> ObjectReader::optional(const std::string& key) {
  known_.insert(key);
  auto it = object_.raw().find(key);
  if (it == object_.raw().end() || it->is_null()) return std::nullopt;
  return JsonValue(object_.file_ptr(), object_.path() + "." + key, &*it);
}

bool ObjectReader::has(const std::string& key) {
  known_.insert(key);
  return object_.raw().contains(key);
}

void ObjectReader::finish() const {
  for (auto it = object_.raw().begin(); it != object_.raw().end(); ++it) {
    if (known_.count(it.key())) continue;
    const std::vector<std::string> valid(known_.begin(), known_.end());
    const std::string path = object_.path() + "." + shown_key(it.key());
    if (valid.empty()) throw input_error(object_.file(), path, "unknown key (this object takes no keys)");
    throw input_error(object_.file(), path,
                      fmt::format("unknown key \"{}\"; did you mean \"{}\"? (valid keys: {})", shown_key(it.key()),
                                  closest(it.key().substr(0, 256), valid), join_quoted(valid)));
  }
}

namespace {

// Finds the first key that appears twice in one object while nlohmann::json parses (it keeps the
// last silently), with its JSON path.
struct DuplicateKeyCheck {
  struct Frame {
    bool array = false;
    int64_t count = 0;  // arrays: elements begun so far
    std::string key;    // objects: the key being read
    std::set<std::string> keys;
  };
  std::vector<Frame> frames;
  std::string duplicate_path;

  void element_begins() {
    if (!frames.empty() && frames.back().array) ++frames.back().count;
  }
  std::string path_to(const std::string& key) const {
    std::string p = "$";
    for (const auto& f : frames) {
      if (&f == &frames.back()) break;
      p += f.array ? fmt::format("[{}]", f.count - 1) : "." + f.key;
    }
    return p + "." + key;
  }
  bool operator()(Json::parse_event_t event, const Json& parsed) {
    using E = Json::parse_event_t;
    if (event == E::object_start || event == E::array_start) {
      element_begins();
      frames.push_back({event == E::array_start, 0, {}, {}});
    } else if (event == E::object_end || event == E::array_end) {
      if (!frames.empty()) frames.pop_back();
    } else if (event == E::key) {
      auto& f = frames.back();
      f.key = parsed.get<std::string>();
      if (!f.keys.insert(f.key).second && duplicate_path.empty()) duplicate_path = path_to(f.key);
    } else if (event == E::value) {
      element_begins();
    }
    return true;
  }
};

}  // namespace

namespace {

// Parsed files by path, reused while the file's size and modification time are unchanged: a
// sweep builds the same model, profile and calibration tables for every point. Documents are
// immutable, so threads share them.
struct ParsedFile {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  JsonDocument doc;
};

std::optional<std::pair<uint64_t, int64_t>> file_stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return std::make_pair(static_cast<uint64_t>(st.st_size), static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec);
}

std::mutex& parsed_mutex() {
  static std::mutex m;
  return m;
}

std::map<std::string, ParsedFile>& parsed_files() {
  static std::map<std::string, ParsedFile> files;
  return files;
}

}  // namespace

JsonDocument JsonDocument::load_file(const std::string& path) {
  const auto stamp = file_stamp(path);
  if (stamp) {
    std::lock_guard<std::mutex> lock(parsed_mutex());
    const auto it = parsed_files().find(path);
    if (it != parsed_files().end() && it->second.size == stamp->first && it->second.mtime_ns == stamp->second) return it->second.doc;
  }
  JsonDocument doc = parse_file(path);
  if (stamp) {
    std::lock_guard<std::mutex> lock(parsed_mutex());
    if (parsed_files().size() >= 256) parsed_files().clear();  // a bound, not an LRU: sweeps read a handful
    parsed_files()[path] = {stamp->first, stamp->second, doc};
  }
  return doc;
}

JsonDocument JsonDocument::parse_file(const std::string& path) { return parse_text(read_input_file(path, kMaxJsonFileBytes, "a JSON file"), path); }

Json parse_json_text(const std::string& text, std::string* duplicate_path) {
  DuplicateKeyCheck check;
  Json j = Json::parse(text, [&check](int, Json::parse_event_t event, Json& parsed) { return check(event, parsed); });
  *duplicate_path = check.duplicate_path;
  return j;
}

JsonDocument JsonDocument::parse_text(const std::string& text, const std::string& path) {
  // Refuse absurd nesting before parsing: deep recursion elsewhere would exhaust the stack.
  {
    constexpr int kMaxDepth = 256;
    int depth = 0;
    bool in_string = false, escaped = false;
    size_t line = 1;
    for (char c : text) {
      if (c == '\n') ++line;
      if (in_string) {
        if (escaped) escaped = false;
        else if (c == '\\') escaped = true;
        else if (c == '"') in_string = false;
        continue;
      }
      if (c == '"') in_string = true;
      else if (c == '[' || c == '{') {
        if (++depth > kMaxDepth) throw input_error(path, fmt::format("line {}", line), fmt::format("JSON nested deeper than {} levels", kMaxDepth));
      } else if (c == ']' || c == '}') --depth;
    }
  }
  JsonDocument doc;
  doc.file_ = std::make_shared<const std::string>(path);
  try {
    std::string duplicate;
    doc.value_ = std::make_shared<const Json>(parse_json_text(text, &duplicate));
    if (!duplicate.empty())
      throw input_error(path, duplicate, "duplicate key (each key may appear once in an object; which one counts would be a guess)");
  } catch (const Json::parse_error& e) {
    // Convert the byte offset into line:column for the message.
    const size_t at = std::min<size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at; ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    // nlohmann's text after its own position ("parse error at line 1, column 3: "), without the
    // bytes it last read (they may be binary or invalid UTF-8: the error line stays plain text).
    std::string what = e.what();
    if (const auto p = what.find(": ", what.find("parse error")); p != std::string::npos) what = what.substr(p + 2);
    if (const auto p = what.find("; last read:"); p != std::string::npos) what.resize(p);
    throw input_error(path, fmt::format("line {} column {}", line, col), "invalid JSON: " + what);
  } catch (const Json::exception& e) {
    // e.g. a number out of range (1e999): not a parse error, but bad input all the same. The
    // message quotes the literal; its first place in the text gives the line.
    std::string where;
    const std::string what = e.what();
    const auto q1 = what.find('\''), q2 = what.rfind('\'');
    if (q1 != std::string::npos && q2 > q1 + 1) {
      const auto at = text.find(what.substr(q1 + 1, q2 - q1 - 1));
      if (at != std::string::npos) where = fmt::format("line {}", 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
    }
    throw input_error(path, where, "invalid JSON: a number out of range (a finite double, at most about 1.8e308): " + what.substr(what.find(']') + 2));
  }
  return doc;
}

JsonDocument JsonDocument::from_json(Json value, const std::string& name) {
  JsonDocument doc;
  doc.file_ = std::make_shared<const std::string>(name);
  doc.value_ = std::make_shared<const Json>(std::move(value));
  return doc;
}

void apply_override(Json& root, const std::string& assignment, const std::string& file) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw input_error("--set", assignment, "expected PATH=VALUE, such as parallel.expert_parallel=16");
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  if (json_depth(text.data(), text.data() + text.size()) > kMaxJsonDepth)
    throw input_error("--set", path, fmt::format("the value is nested deeper than {} levels", kMaxJsonDepth));
  Json value;
  try {
    value = Json::parse(text);
  } catch (const Json::parse_error&) {
    value = text;
  } catch (const Json::exception&) {
    throw input_error("--set", assignment, "the number is out of range (a finite double, at most about 1.8e308)");
  }
  try {
    (void)value.dump();
  } catch (const Json::exception&) {
    throw input_error("--set", path, "the value is not valid UTF-8 text");
  }
  Json* node = &root;
  std::string walked = "$";
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (key.empty()) throw input_error("--set", assignment, "empty key in path");
    if (!node->is_object()) throw input_error(file, walked, "--set " + path + ": not an object, cannot set a key inside it");
    walked += "." + key;
    if (dot == std::string::npos) {
      (*node)[key] = value;
      return;
    }
    if (!node->contains(key)) (*node)[key] = Json::object();
    node = &(*node)[key];
    start = dot + 1;
  }
}

int json_depth(const char* begin, const char* end) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char* c = begin; c != end; ++c) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (*c == '\\') escaped = true;
      else if (*c == '"') in_string = false;
    } else if (*c == '"') {
      in_string = true;
    } else if (*c == '[' || *c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (*c == ']' || *c == '}') {
      --depth;
    }
  }
  return deepest;
}

bool override_paths_overlap(const std::string& a, const std::string& b) {
  const std::string& shorter = a.size() <= b.size() ? a : b;
  const std::string& longer = a.size() <= b.size() ? b : a;
  return longer.compare(0, shorter.size(), shorter) == 0 && (longer.size() == shorter.size() || longer[shorter.size()] == '.');
}

void check_override_order(const std::vector<std::string>& assignments, const std::string& what) {
  auto path_of = [](const std::string& a) { return a.substr(0, a.find('=')); };
  for (size_t j = 1; j < assignments.size(); ++j)
    for (size_t i = 0; i < j; ++i) {
      const std::string earlier = path_of(assignments[i]), later = path_of(assignments[j]);
      if (later.size() <= earlier.size() && override_paths_overlap(earlier, later))
        throw InputError(fmt::format("{}: {}: would overwrite the earlier {} {} (give each value once, objects before the keys inside them)",
                                     what, shown_key(later), what, shown_key(earlier)));
    }
}

}  // namespace moesim
