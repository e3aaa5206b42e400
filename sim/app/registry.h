// A registry of named, described and cited model variants (placement policies, routing sources,
// topologies...), after SimGrid's model registry and SST's element info: each entry carries a
// name, a one-line description, a citation and a factory, and the CLI prints them.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace moesim {

template <typename Factory>
struct RegistryEntry {
  std::string name;
  std::string description;
  std::string citation;
  Factory factory;
};

template <typename Factory>
class Registry {
 public:
  void add(RegistryEntry<Factory> entry) { entries_.push_back(std::move(entry)); }
  const RegistryEntry<Factory>* find(const std::string& name) const {
    for (const auto& e : entries_)
      if (e.name == name) return &e;
    return nullptr;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : entries_) out.push_back(e.name);
    return out;
  }
  const std::vector<RegistryEntry<Factory>>& entries() const { return entries_; }

 private:
  std::vector<RegistryEntry<Factory>> entries_;
};

}  // namespace moesim
