#include "sim/network/dispatch_traffic.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace moesim {

DispatchTrafficBuilder::DispatchTrafficBuilder(int64_t devices, int64_t devices_per_node, DispatchTraffic recycled) : t_(std::move(recycled)) {
  if (devices < 1 || devices_per_node < 1 || devices % devices_per_node != 0)
    throw std::invalid_argument("dispatch traffic: devices must be a positive multiple of devices_per_node");
  t_.to_device.clear();
  t_.to_node.clear();
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

void DispatchTrafficBuilder::SlicedCounts::drain(int64_t* counters) {
  for (int j = 0; j < kPlanes; ++j) {
    for (uint64_t bits = plane[j]; bits != 0; bits &= bits - 1) counters[__builtin_ctzll(bits)] += int64_t{1} << j;
    plane[j] = 0;
  }
  pending = 0;
}

void DispatchTrafficBuilder::flush() {
  if (current_ < 0) return;
  if (dev_sliced_.pending > 0) dev_sliced_.drain(dev_tokens_.data());
  if (node_sliced_.pending > 0) node_sliced_.drain(node_tokens_.data());
  if (packed_sliced_.pending > 0) packed_sliced_.drain(packed_tokens_);
  if (packs_sets()) {
    const int64_t devices = t_.devices;
    for (int64_t i = 0; i < devices + t_.nodes(); ++i) {
      (i < devices ? dev_tokens_[static_cast<size_t>(i)] : node_tokens_[static_cast<size_t>(i - devices)]) += packed_tokens_[i];
      packed_tokens_[i] = 0;
    }
  }
  auto emit = [&](size_t d) {
    if (dev_tokens_[d] == 0 && dev_messages_[d] == 0) return;  // listed twice, or (scan) not reached
    t_.to_device.push_back({static_cast<int32_t>(d), dev_tokens_[d], dev_messages_[d]});
    dev_tokens_[d] = dev_messages_[d] = 0;
  };
  // The destinations in ascending order. A source that reaches most of them (decode at EP320
  // reaches all 320) is cheaper to scan than to sort; every device with tokens also has messages,
  // so the touched list holds every device with counts.
  if (touched_devices_.size() * 16 > dev_tokens_.size()) {
    for (size_t d = 0; d < dev_tokens_.size(); ++d) emit(d);
  } else {
    std::sort(touched_devices_.begin(), touched_devices_.end());
    for (int32_t d : touched_devices_) emit(static_cast<size_t>(d));
  }
  touched_devices_.clear();
  for (size_t n = 0; n < node_tokens_.size(); ++n)
    if (node_tokens_[n] > 0) {
      t_.to_node.push_back({static_cast<int32_t>(n), node_tokens_[n]});
      node_tokens_[n] = 0;
    }
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
  node_tokens_[static_cast<size_t>(node)] += tokens;
}

int DispatchTrafficBuilder::add_token(int64_t src, const int32_t* devs, int n) {
  const int nodes = add_token_reach(src, devs, n);
  for (int i = 0; i < n; ++i) add_messages(src, devs[i], 1);
  return nodes;
}

int DispatchTrafficBuilder::add_token_reach(int64_t src, const int32_t* devs, int n) {
  switch_to(src);
  ++token_;  // stamps mark the devices and nodes this token has already reached
  // Branch-free counting: destinations are random, so data-dependent branches mispredict.
  int nodes = 0;
  for (int i = 0; i < n; ++i) {
    const auto d = static_cast<size_t>(devs[i]);
    const int64_t new_device = dev_stamp_[d] != token_;
    dev_stamp_[d] = token_;
    dev_tokens_[d] += new_device;
    const auto node = static_cast<size_t>(node_of_[d]);
    const int64_t new_node = new_device & static_cast<int64_t>(node_stamp_[node] != token_);
    node_stamp_[node] = token_;  // a repeat device's node was already stamped by this token
    node_tokens_[node] += new_node;  // flush finds the nodes reached by a scan: no branch here
    nodes += static_cast<int>(new_node);
  }
  return nodes;
}

void DispatchTrafficBuilder::add_messages(int64_t src, int64_t dst, int64_t messages) {
  switch_to(src);
  auto& m = dev_messages_[static_cast<size_t>(dst)];
  if (m == 0 && messages > 0) touched_devices_.push_back(static_cast<int32_t>(dst));
  m += messages;
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
