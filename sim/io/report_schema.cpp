#include "sim/io/report_schema.h"

#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/io/json_reader.h"

namespace moesim {
namespace {

const nlohmann::json& schema() {
  static const nlohmann::json s = nlohmann::json::parse(report_schema_text());
  return s;
}

// "/a/b~1c" -> {"a", "b/c"} (RFC 6901 escapes).
std::vector<std::string> pointer_keys(const std::string& pointer) {
  std::vector<std::string> keys;
  size_t at = 1;
  while (at <= pointer.size() && !pointer.empty()) {
    const size_t slash = pointer.find('/', at);
    const std::string escaped = pointer.substr(at, slash == std::string::npos ? std::string::npos : slash - at);
    std::string k;
    for (size_t i = 0; i < escaped.size(); ++i) {
      const bool escape = escaped[i] == '~' && i + 1 < escaped.size();
      k += escape ? (escaped[i + 1] == '1' ? '/' : '~') : escaped[i];
      i += escape ? 1 : 0;
    }
    keys.push_back(std::move(k));
    if (slash == std::string::npos) break;
    at = slash + 1;
  }
  return keys;
}

bool is_index(std::string_view k) { return !k.empty() && k.find_first_not_of("0123456789") == std::string_view::npos; }

bool has_type(const nlohmann::json& node, const char* type) {
  if (!node.contains("type")) return false;
  const auto& t = node["type"];
  if (t.is_string()) return t.get<std::string>() == type;
  for (const auto& x : t)
    if (x.is_string() && x.get<std::string>() == type) return true;
  return false;
}

std::string where(const std::vector<std::string>& keys, size_t n) {
  std::string w;
  for (size_t i = 0; i < n; ++i) w += "/" + keys[i];
  return w.empty() ? "the report" : w;
}

}  // namespace

std::string report_field_problem(const std::string& pointer, bool object_wanted) {
  const auto keys = pointer_keys(pointer);
  const nlohmann::json* node = &schema();
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string& k = keys[i];
    if (has_type(*node, "array")) {
      if (!is_index(k) || (k.size() > 1 && k[0] == '0'))
        return fmt::format("{} is a list: expected an index (0, 1, ...), got \"{}\"", where(keys, i), k);
      node = node->contains("items") ? &(*node)["items"] : nullptr;
    } else if (node->contains("properties") && (*node)["properties"].contains(k)) {
      node = &(*node)["properties"][k];
    } else if (node->contains("additionalProperties") && (*node)["additionalProperties"].is_object()) {
      node = &(*node)["additionalProperties"];
    } else if (!has_type(*node, "object")) {
      return fmt::format("{} is a value, not an object: it has no \"{}\"", where(keys, i), k);
    } else if (node->contains("additionalProperties") || node->contains("properties")) {
      std::vector<std::string> names;
      if (node->contains("properties"))
        for (const auto& [name, _] : (*node)["properties"].items()) names.push_back(name);
      if (names.empty()) return fmt::format("{} has no \"{}\"", where(keys, i), k);
      return fmt::format("{} has no \"{}\"; did you mean \"{}\"?", where(keys, i), k, closest(k, names));
    } else {
      return "";  // an open object (the inlined model, hardware): any key below it
    }
    if (node == nullptr) return "";
  }
  const std::string at = where(keys, keys.size());
  if (object_wanted && has_type(*node, "array")) return fmt::format("{} is a list; \"*\" stands for the members of an object (give an index)", at);
  if (object_wanted && !has_type(*node, "object")) return fmt::format("{} is a value; \"*\" stands for the members of an object", at);
  if (!object_wanted && has_type(*node, "array")) return fmt::format("{} is a list, not a value: give an index", at);
  if (!object_wanted && has_type(*node, "object"))
    return fmt::format("{} is an object, not a value: name one of its members, or all of them with \"*\"", at);
  return "";
}

}  // namespace moesim
