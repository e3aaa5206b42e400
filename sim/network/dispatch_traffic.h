// What one MoE all-to-all has to move, in the units its algorithms need, for one micro-batch:
//  - per (source device, destination device): tokens deduplicated per destination device (a token
//    goes once to each device holding any of its experts) and (token, expert) messages;
//  - per (source device, destination node): tokens deduplicated per destination node (a token
//    crosses RDMA once per node in DeepEP's normal kernels).
// Both include the source's own device and node. Rows are kept sparse (CSR by source), so 2048
// devices cost what their non-zero pairs cost. Filled per token by DispatchTrafficBuilder (the
// dispatch planner calls add_token for every token with the devices of its kept expert copies),
// or from counts.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sim/base/bits.h"

namespace moesim {

struct DispatchTraffic {
  struct ToDevice {
    int32_t dst = 0;
    int64_t tokens = 0;    // deduplicated per (token, dst device)
    int64_t messages = 0;  // (token, expert) pairs
  };
  struct ToNode {
    int32_t node = 0;
    int64_t tokens = 0;    // deduplicated per (token, dst node)
  };
  int64_t devices = 0;
  int64_t devices_per_node = 1;
  std::vector<int64_t> device_row;   // [src] first entry of src in to_device; size devices + 1
  std::vector<ToDevice> to_device;   // by src, then dst ascending
  std::vector<int64_t> node_row;     // [src] first entry of src in to_node; size devices + 1
  std::vector<ToNode> to_node;       // by src, then node ascending

  int64_t nodes() const { return devices / devices_per_node; }
  int64_t node_of(int64_t device) const { return device / devices_per_node; }
  const ToDevice* device_begin(int64_t src) const { return to_device.data() + device_row[static_cast<size_t>(src)]; }
  const ToDevice* device_end(int64_t src) const { return to_device.data() + device_row[static_cast<size_t>(src) + 1]; }
  const ToNode* node_begin(int64_t src) const { return to_node.data() + node_row[static_cast<size_t>(src)]; }
  const ToNode* node_end(int64_t src) const { return to_node.data() + node_row[static_cast<size_t>(src) + 1]; }
  // Deduplicated tokens from src to dst (0 when none).
  int64_t tokens_to(int64_t src, int64_t dst) const {
    for (const auto* e = device_begin(src); e != device_end(src); ++e)
      if (e->dst == dst) return e->tokens;
    return 0;
  }
};

class DispatchTrafficBuilder {
 public:
  // `recycled`: a finished traffic whose vectors are reused for their room (contents dropped):
  // a planner that builds one per layer keeps its memory instead of growing new vectors.
  DispatchTrafficBuilder(int64_t devices, int64_t devices_per_node, DispatchTraffic recycled = {});
  // One token of `src`: expert_devices[0..n) holds the device of each of its kept (token, expert)
  // assignments (repeats when several of its experts share a device). Sources must come in
  // ascending order (all of a source's tokens and counts before the next source's).
  // Returns the number of distinct nodes the token reaches.
  int add_token(int64_t src, const int32_t* expert_devices, int n);
  // The same split in two, for callers that count a source's (token, expert) messages per
  // destination themselves (cheaper than one increment per copy): add_token_reach deduplicates
  // the token per device and node, add_messages adds `messages` from src to dst. A source's
  // devices reached must all get messages before the next source.
  int add_token_reach(int64_t src, const int32_t* expert_devices, int n);
  // add_token_reach for a cluster of at most kMaskDevices devices, the token's devices and their
  // nodes given as sets (bit d: device d / node d; repeats are one bit): the same counts, without
  // a branch per device (a data-dependent loop mispredicts once per token). Returns the nodes.
  static constexpr int64_t kMaskDevices = 64;
  int add_token_devices(int64_t src, uint64_t devices, uint64_t nodes) {
    if (src != current_) switch_to(src);
    dev_sliced_.add(devices, dev_tokens_.data());
    node_sliced_.add(nodes, node_tokens_.data());
    return popcount64(nodes);
  }
  // add_token_devices for n tokens of src at once (devices[i], nodes[i]: token i's sets), the
  // pending counts held in registers across the tokens. The caller counts the tokens' nodes.
  void add_token_sets(int64_t src, const uint64_t* devices, const uint64_t* nodes, int64_t n) {
    if (src != current_) switch_to(src);
    dev_sliced_.add_all(devices, n, dev_tokens_.data());
    node_sliced_.add_all(nodes, n, node_tokens_.data());
  }
  // add_token_sets with each token's two sets packed in one word: bit d the device d, bit
  // devices + n the node n (for clusters with devices + nodes <= 64): one count for both.
  bool packs_sets() const { return t_.devices + t_.nodes() <= kMaskDevices; }
  void add_packed_token_sets(int64_t src, const uint64_t* packed, int64_t n) {
    if (src != current_) switch_to(src);
    packed_sliced_.add_all(packed, n, packed_tokens_);
  }
  void add_messages(int64_t src, int64_t dst, int64_t messages);
  // Counts added directly (e.g. padded capacity slots); same ordering rule.
  void add_device_counts(int64_t src, int64_t dst, int64_t tokens, int64_t messages);
  void add_node_tokens(int64_t src, int64_t node, int64_t tokens);
  DispatchTraffic finish();

 private:
  // Counts of up to 64 counters in bit slices: plane j holds bit j of every counter's pending
  // count; a set is added with a ripple carry (no branch per member) and the planes are emptied
  // into the counters every 255 sets, and before the counters are read.
  struct SlicedCounts {
    static constexpr int kPlanes = 8;
    uint64_t plane[kPlanes] = {};
    int pending = 0;
    // Adds `set` to the planes p by ripple carry.
    static void ripple_add(uint64_t (&p)[kPlanes], uint64_t set) {
      for (uint64_t& pj : p) {
        const uint64_t carry = pj & set;
        pj ^= set;
        set = carry;
      }
    }
    void add(uint64_t set, int64_t* counters) {
      ripple_add(plane, set);
      if (++pending == (1 << kPlanes) - 1) drain(counters);
    }
    void add_all(const uint64_t* sets, int64_t n, int64_t* counters) {
      uint64_t p[kPlanes];  // locals: kept in registers (the member planes would be reloaded per set)
      for (int j = 0; j < kPlanes; ++j) p[j] = plane[j];
      for (int64_t i = 0; i < n; ++i) {
        ripple_add(p, sets[i]);
        if (++pending == (1 << kPlanes) - 1) {
          for (int j = 0; j < kPlanes; ++j) plane[j] = p[j];
          drain(counters);
          for (uint64_t& pj : p) pj = 0;
        }
      }
      for (int j = 0; j < kPlanes; ++j) plane[j] = p[j];
    }
    void drain(int64_t* counters);
  };
  void switch_to(int64_t src);
  void flush();
  DispatchTraffic t_;
  int64_t current_ = -1;
  std::vector<int64_t> dev_tokens_, dev_messages_, node_tokens_;
  std::vector<int32_t> touched_devices_;
  std::vector<int64_t> dev_stamp_, node_stamp_;
  std::vector<int32_t> node_of_;
  SlicedCounts dev_sliced_, node_sliced_;  // add_token_devices' pending counts
  SlicedCounts packed_sliced_;             // add_packed_token_sets' pending counts
  int64_t packed_tokens_[kMaskDevices] = {};  // their drained counts, unpacked at flush
  int64_t token_ = 0;
};

}  // namespace moesim
