// The choice of network model for a collective: "bottleneck" (per-port bottleneck, the fast mode)
// or "flow" (flow-level max-min sharing). Both take the same FlowSet and return the same
// CollectiveResult.
#pragma once
#include <optional>
#include <span>
#include <string>

#include "sim/base/enum_table.h"

#include "sim/network/bottleneck_model.h"
#include "sim/network/flow_model.h"

namespace moesim {

enum class NetworkModelKind { Bottleneck, Flow };

std::span<const EnumName<NetworkModelKind>> network_model_names();
std::optional<NetworkModelKind> parse_network_model(const std::string& name);  // "bottleneck" | "flow"
const char* network_model_name(NetworkModelKind kind);

// One object per topology; reusable across collectives (not thread-safe: one per thread).
class NetworkModel {
 public:
  NetworkModel(const Topology& topology, NetworkModelKind kind, FlowModelOptions flow_options = {})
      : topo_(&topology), kind_(kind), bottleneck_(topology), flow_(topology, flow_options) {}
  NetworkModelKind kind() const { return kind_; }
  CollectiveResult run(const FlowSet& flows, SimTime fixed_latency) {
    return kind_ == NetworkModelKind::Flow ? flow_.run(flows, fixed_latency) : bottleneck_.run(flows, fixed_latency);
  }
  // The collective whose flows `emit` adds to the sink it is given (on this model's topology): the
  // bottleneck model takes them as they come (BottleneckModel::run_streamed), the flow model keeps
  // them first. The same result as run() on the FlowSet they make.
  CollectiveResult run(const std::function<void(FlowSink&)>& emit, SimTime fixed_latency);

 private:
  const Topology* topo_;
  NetworkModelKind kind_;
  BottleneckModel bottleneck_;
  FlowModel flow_;
};

}  // namespace moesim
