#include "sim/network/a2a_wire.h"

#include <stdexcept>

namespace moesim {

A2aUnitBytes a2a_unit_bytes(const A2aTraits& a, const WireFormat& w) {
  A2aUnitBytes b;
  b.dispatch_counted = wire_bytes(w.dispatch_dtype, w.hidden) + a.header_bytes;
  b.dispatch = b.dispatch_counted + (a.carries_topk_meta ? static_cast<double>(w.top_k) * (4.0 + 4.0) : 0.0);
  b.combine = b.combine_counted = wire_bytes(w.combine_dtype, w.hidden);
  return b;
}

const A2aRegistry::Entry& resolve_a2a(const std::string& requested, const TopologyTraits& topology, bool decode, int64_t nodes) {
  std::string name = requested;
  if (name == "auto") name = decode && nodes > 1 ? topology.decode_a2a : topology.native_a2a;
  const auto* entry = a2a_registry().find(name);
  if (!entry) throw std::invalid_argument("unknown all-to-all algorithm \"" + name + "\"");
  return *entry;
}

}  // namespace moesim
