#include "sim/network/flow_set.h"

#include <algorithm>
#include <bit>
#include <stdexcept>

#include <fmt/format.h>

namespace moesim {

void FlowSet::add(const Route& route, int64_t src, int64_t dst, double bytes, int32_t kernel_link) {
  if ((route.empty() && kernel_link < 0) || !(bytes > 0)) return;
  // Written in place, field by field (a Flow built on the stack and copied was read back before
  // its stores had landed: a store-forwarding stall per flow, a fifth of a decode step at EP320).
  Flow& f = flows_.emplace_back();
  f.first_link = static_cast<int64_t>(links_.size());
  f.hops = route.size() + (kernel_link >= 0 ? 1 : 0);
  f.src = static_cast<int32_t>(src);
  f.dst = static_cast<int32_t>(dst);
  f.bytes = bytes;
  f.latency = topo_->latency_of(route);
  for (int32_t link : route) links_.push_back(link);
  if (kernel_link >= 0) links_.push_back(kernel_link);
}

int32_t FlowSet::add_kernel_link(const char* role, int64_t device, int64_t peer, double capacity_Bps) {
  if (!(capacity_Bps > 0)) throw std::invalid_argument(fmt::format("kernel link {} of device {}: capacity must be positive", role, device));
  kernel_links_.push_back({role, static_cast<int32_t>(device), static_cast<int32_t>(peer), capacity_Bps});
  return static_cast<int32_t>(topo_->num_links() + kernel_links_.size() - 1);
}

double FlowSet::capacity_Bps(int32_t link) const {
  if (!is_kernel_link(link)) return topo_->link(link).bandwidth_Bps * topo_->link(link).efficiency;
  return kernel_links_[static_cast<size_t>(link) - topo_->num_links()].capacity_Bps;
}

double FlowSet::bandwidth_Bps(int32_t link) const {
  if (!is_kernel_link(link)) return topo_->link(link).bandwidth_Bps;
  return kernel_links_[static_cast<size_t>(link) - topo_->num_links()].capacity_Bps;
}

std::string FlowSet::link_name(int32_t link) const {
  if (!is_kernel_link(link)) return topo_->link(link).name;
  const KernelLink& k = kernel_links_[static_cast<size_t>(link) - topo_->num_links()];
  return fmt::format("gpu{}->gpu{} {} (kernel)", k.device, k.peer, k.role);
}

double FlowSet::bytes_total() const {
  double b = 0;
  for (const auto& f : flows_) b += f.bytes * f.weight;
  return b;
}

namespace {

uint64_t mix(uint64_t h, uint64_t x) {  // one step of a 64-bit multiplicative hash
  h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

}  // namespace

bool FlowSet::find_identical(std::vector<int64_t>* first_of) const {
  // Open addressing over a hash of (hops, bytes, path); the table holds the first flow of each
  // kind, so a later identical flow finds it; flows go in order, so the result does not depend on
  // the hash.
  const size_t n = flows_.size();
  const size_t mask = std::bit_ceil(2 * n + 1) - 1;
  std::vector<int64_t> table(mask + 1, -1);
  std::vector<uint64_t> hash(n);
  auto same = [&](const Flow& x, const Flow& y) {
    return x.hops == y.hops && x.bytes == y.bytes && std::equal(path(x), path(x) + x.hops, path(y));
  };
  if (first_of) first_of->assign(n, -1);
  bool any = false;
  for (size_t i = 0; i < n; ++i) {
    const Flow& f = flows_[i];
    uint64_t h = mix(static_cast<uint64_t>(f.hops), std::bit_cast<uint64_t>(f.bytes));
    for (int32_t k = 0; k < f.hops; ++k) h = mix(h, static_cast<uint32_t>(path(f)[k]));
    hash[i] = h;
    for (size_t slot = h & mask;; slot = (slot + 1) & mask) {
      const int64_t j = table[slot];
      if (j < 0) {
        table[slot] = static_cast<int64_t>(i);
        break;
      }
      if (hash[static_cast<size_t>(j)] == h && same(flows_[static_cast<size_t>(j)], f)) {
        if (!first_of) return true;
        (*first_of)[i] = j;
        any = true;
        break;
      }
    }
  }
  return any;
}

void FlowSet::merge_identical() {
  std::vector<int64_t> first_of;  // the first flow of each identical kind absorbs the rest
  if (!find_identical(&first_of)) return;
  for (size_t i = 0; i < flows_.size(); ++i)
    if (first_of[i] >= 0) flows_[static_cast<size_t>(first_of[i])].weight += flows_[i].weight;
  std::vector<Flow> out;
  out.reserve(flows_.size());
  for (size_t i = 0; i < flows_.size(); ++i)
    if (first_of[i] < 0) out.push_back(flows_[i]);
  flows_ = std::move(out);
}

}  // namespace moesim
