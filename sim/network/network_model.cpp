#include "sim/network/network_model.h"

#include <array>

namespace moesim {
namespace {

constexpr std::array<EnumName<NetworkModelKind>, 2> kNames = {{{NetworkModelKind::Bottleneck, "bottleneck"}, {NetworkModelKind::Flow, "flow"}}};

}  // namespace

std::span<const EnumName<NetworkModelKind>> network_model_names() { return kNames; }
std::optional<NetworkModelKind> parse_network_model(const std::string& name) { return parse_enum(network_model_names(), name); }
const char* network_model_name(NetworkModelKind kind) { return enum_name(network_model_names(), kind); }

CollectiveResult NetworkModel::run(const std::function<void(FlowSink&)>& emit, SimTime fixed_latency) {
  if (kind_ == NetworkModelKind::Bottleneck) return bottleneck_.run_streamed(emit, fixed_latency);
  FlowSet set(*topo_);
  emit(set);
  return flow_.run(set, fixed_latency);
}

}  // namespace moesim
