// A registry of named, described and cited model variants (placement policies, routing sources,
// topologies, all-to-all algorithms, expert backends, importers), after SimGrid's model registry
// and SST's element info: each entry carries a name, a one-line description, a citation, a
// factory, the traits that callers ask instead of comparing names, and the specs of the
// parameters it takes (printed by `moesim list X --json`). Registries are immutable tables built
// once; names are checked when an experiment is read.
#pragma once
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace moesim {

// One parameter an entry takes: its key in the experiment (or command line), its JSON type, its
// unit ("" when dimensionless), its default as written, its accepted range and what it means.
struct ParamSpec {
  std::string key;
  std::string type;           // "integer", "number", "bandwidth", "string", "boolean"
  std::string unit;           // e.g. "B/s" (written with a unit: "400 Gb/s"), "" when none
  std::string default_value;  // as an experiment would write it, with what it means
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  std::string description;
};

struct NoTraits {};

template <typename Factory, typename Traits = NoTraits>
struct RegistryEntry {
  std::string name;
  std::string description;
  std::string citation;
  Factory factory;
  Traits traits{};
  std::vector<ParamSpec> params{};

  bool takes(const std::string& key) const {
    for (const auto& p : params)
      if (p.key == key) return true;
    return false;
  }
};

template <typename Factory, typename Traits = NoTraits>
class Registry {
 public:
  using Entry = RegistryEntry<Factory, Traits>;
  void add(Entry entry) { entries_.push_back(std::move(entry)); }
  const Entry* find(const std::string& name) const {
    for (const auto& e : entries_)
      if (e.name == name) return &e;
    return nullptr;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : entries_) out.push_back(e.name);
    return out;
  }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

}  // namespace moesim
