#include "sim/network/network_model.h"

namespace moesim {

std::optional<NetworkModelKind> parse_network_model(const std::string& name) {
  if (name == "bottleneck") return NetworkModelKind::Bottleneck;
  if (name == "flow") return NetworkModelKind::Flow;
  return std::nullopt;
}

const char* network_model_name(NetworkModelKind kind) { return kind == NetworkModelKind::Flow ? "flow" : "bottleneck"; }

}  // namespace moesim
