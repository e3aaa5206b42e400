#include "sim/network/dispatch_traffic.h"

#include <algorithm>
#include <stdexcept>

namespace moesim {

DispatchTrafficBuilder::DispatchTrafficBuilder(int64_t devices, int64_t devices_per_node) {
  if (devices < 1 || devices_per_node < 1 || devices % devices_per_node != 0)
    throw std::invalid_argument("dispatch traffic: devices must be a positive multiple of devices_per_node");
  t_.devices = devices;
  t_.devices_per_node = devices_per_node;
  t_.device_row.assign(static_cast<size_t>(devices) + 1, 0);
  t_.node_row.assign(static_cast<size_t>(devices) + 1, 0);
  dev_tokens_.assign(static_cast<size_t>(devices), 0);
  dev_messages_.assign(static_cast<size_t>(devices), 0);
  node_tokens_.assign(static_cast<size_t>(devices / devices_per_node), 0);
  dev_stamp_.assign(static_cast<size_t>(devices), -1);
  node_stamp_.assign(static_cast<size_t>(devices / devices_per_node), -1);
  node_of_.resize(static_cast<size_t>(devices));
  for (int64_t d = 0; d < devices; ++d) node_of_[static_cast<size_t>(d)] = static_cast<int32_t>(d / devices_per_node);
}

void DispatchTrafficBuilder::switch_to(int64_t src) {
  if (src == current_) return;
  if (src < current_ || src >= t_.devices) throw std::logic_error("dispatch traffic: sources must come in ascending order");
  flush();
  for (int64_t s = current_ + 1; s <= src; ++s) {
    t_.device_row[static_cast<size_t>(s)] = static_cast<int64_t>(t_.to_device.size());
    t_.node_row[static_cast<size_t>(s)] = static_cast<int64_t>(t_.to_node.size());
  }
  current_ = src;
}

void DispatchTrafficBuilder::flush() {
  if (current_ < 0) return;
  std::sort(touched_devices_.begin(), touched_devices_.end());
  for (int32_t d : touched_devices_) {
    t_.to_device.push_back({d, dev_tokens_[static_cast<size_t>(d)], dev_messages_[static_cast<size_t>(d)]});
    dev_tokens_[static_cast<size_t>(d)] = dev_messages_[static_cast<size_t>(d)] = 0;
  }
  std::sort(touched_nodes_.begin(), touched_nodes_.end());
  for (int32_t n : touched_nodes_) {
    t_.to_node.push_back({n, node_tokens_[static_cast<size_t>(n)]});
    node_tokens_[static_cast<size_t>(n)] = 0;
  }
  touched_devices_.clear();
  touched_nodes_.clear();
}

void DispatchTrafficBuilder::add_device_counts(int64_t src, int64_t dst, int64_t tokens, int64_t messages) {
  switch_to(src);
  auto& tok = dev_tokens_[static_cast<size_t>(dst)];
  auto& msg = dev_messages_[static_cast<size_t>(dst)];
  if (tok == 0 && msg == 0 && (tokens > 0 || messages > 0)) touched_devices_.push_back(static_cast<int32_t>(dst));
  tok += tokens;
  msg += messages;
}

void DispatchTrafficBuilder::add_node_tokens(int64_t src, int64_t node, int64_t tokens) {
  switch_to(src);
  auto& n = node_tokens_[static_cast<size_t>(node)];
  if (n == 0 && tokens > 0) touched_nodes_.push_back(static_cast<int32_t>(node));
  n += tokens;
}

int DispatchTrafficBuilder::add_token(int64_t src, const int32_t* devs, int n) {
  switch_to(src);
  ++token_;  // stamps mark the devices and nodes this token has already reached
  // Branch-free counting: destinations are random, so data-dependent branches mispredict.
  int nodes = 0;
  for (int i = 0; i < n; ++i) {
    const auto d = static_cast<size_t>(devs[i]);
    if (dev_messages_[d] == 0) touched_devices_.push_back(devs[i]);  // first copy from this source
    ++dev_messages_[d];
    const int64_t new_device = dev_stamp_[d] != token_;
    dev_stamp_[d] = token_;
    dev_tokens_[d] += new_device;
    const auto node = static_cast<size_t>(node_of_[d]);
    const int64_t new_node = new_device & static_cast<int64_t>(node_stamp_[node] != token_);
    node_stamp_[node] = token_;  // a repeat device's node was already stamped by this token
    if (new_node && node_tokens_[node] == 0) touched_nodes_.push_back(static_cast<int32_t>(node));
    node_tokens_[node] += new_node;
    nodes += static_cast<int>(new_node);
  }
  return nodes;
}

DispatchTraffic DispatchTrafficBuilder::finish() {
  switch_to(t_.devices - 1);
  flush();
  t_.device_row[static_cast<size_t>(t_.devices)] = static_cast<int64_t>(t_.to_device.size());
  t_.node_row[static_cast<size_t>(t_.devices)] = static_cast<int64_t>(t_.to_node.size());
  current_ = t_.devices;
  return std::move(t_);
}

}  // namespace moesim
