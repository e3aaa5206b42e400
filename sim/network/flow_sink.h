// Where an all-to-all algorithm puts its flows as it builds them. A FlowSet keeps every flow (the
// flow-level model needs them all at once); the bottleneck model's streamed form adds each flow's
// bytes to its links as it arrives and keeps nothing per flow (bottleneck_model.h).
#pragma once
#include <cstddef>
#include <cstdint>

#include "sim/network/topology.h"

namespace moesim {

class FlowSink {
 public:
  virtual ~FlowSink() = default;
  // `bytes` from device src to device dst along `route`, then through `kernel_link` (an id from
  // add_kernel_link) if given; nothing for no bytes, or an empty route without a kernel link.
  virtual void add(const Route& route, int64_t src, int64_t dst, double bytes, int32_t kernel_link) = 0;
  void add(const Route& route, int64_t src, int64_t dst, double bytes) { add(route, src, dst, bytes, -1); }
  // A new kernel link of `capacity_Bps` (> 0, else std::invalid_argument); returns its id (after
  // the topology's links, in order of creation).
  virtual int32_t add_kernel_link(const char* role, int64_t device, int64_t peer, double capacity_Bps) = 0;
  // Room for about `flows` flows of `links` path entries in all (a hint).
  virtual void reserve(size_t flows, size_t links) = 0;

 protected:
  FlowSink() = default;
  FlowSink(const FlowSink&) = default;
  FlowSink& operator=(const FlowSink&) = default;
  FlowSink(FlowSink&&) = default;
  FlowSink& operator=(FlowSink&&) = default;
};

}  // namespace moesim
