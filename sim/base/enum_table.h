// One name table per enum: the names an enum's values are written with in experiment files,
// reports and the command line, kept in one place so parsing and printing cannot disagree.
// Each table is a static array of {value, name}; `enum_name` and `parse_enum` look it up.
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moesim {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

template <typename E>
const char* enum_name(std::span<const EnumName<E>> table, E value) {
  for (const auto& e : table)
    if (e.value == value) return e.name;
  return "?";
}

template <typename E>
std::optional<E> parse_enum(std::span<const EnumName<E>> table, std::string_view name) {
  for (const auto& e : table)
    if (name == e.name) return e.value;
  return std::nullopt;
}

template <typename E>
std::vector<std::string> enum_names(std::span<const EnumName<E>> table) {
  std::vector<std::string> out;
  for (const auto& e : table) out.emplace_back(e.name);
  return out;
}

}  // namespace moesim
