// What one MoE all-to-all puts on the wire, for `moesim run` and `moesim comm a2a` alike: the
// bytes of one unit (a token copy, or a (token, expert) message for low-latency kernels) in
// dispatch and in combine, from the algorithm's traits, and the part of them DeepEP's benchmarks
// count; and which algorithm "auto" stands for.
//   dispatch = hidden in the dispatch dtype (+ one fp32 scale per 128 values for FP8)
//              + the algorithm's header (low latency: 16 bytes)
//              + int32 expert id and fp32 weight per top-k entry where the algorithm sends them;
//   combine  = hidden in the combine dtype (+ FP8 scales).
// DeepEP counts the hidden bytes with their scales and the header, not the top-k metadata.
#pragma once
#include <cstdint>
#include <string>

#include "sim/base/dtype.h"
#include "sim/network/a2a.h"
#include "sim/network/topology_registry.h"

namespace moesim {

struct WireFormat {
  int64_t hidden = 0;
  int64_t top_k = 0;
  Dtype dispatch_dtype = Dtype::Bf16;
  Dtype combine_dtype = Dtype::Bf16;
};

struct A2aUnitBytes {
  double dispatch = 0;          // bytes moved per dispatch unit
  double combine = 0;           // bytes moved per combine unit
  double dispatch_counted = 0;  // DeepEP's bandwidth numerator per dispatch unit
  double combine_counted = 0;
};

A2aUnitBytes a2a_unit_bytes(const A2aTraits& algorithm, const WireFormat& wire);

// The algorithm `requested` names, or for "auto" the topology's choice (TopologyTraits): its
// decode algorithm for decode across nodes (DeepEP low-latency kernels on NVSwitch nodes), else
// its native one (DeepEP normal kernels; HCCL's hierarchical all-to-all on an HCCS mesh).
// Throws std::invalid_argument for a name not in a2a_registry().
const A2aRegistry::Entry& resolve_a2a(const std::string& requested, const TopologyTraits& topology, bool decode, int64_t nodes);

}  // namespace moesim
