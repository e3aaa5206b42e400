#include "sim/network/flow_set.h"

#include <algorithm>
#include <numeric>

namespace moesim {

void FlowSet::add(const Route& route, int64_t src, int64_t dst, double bytes) {
  if (route.empty() || !(bytes > 0)) return;
  Flow f;
  f.first_link = static_cast<int64_t>(links_.size());
  f.hops = route.size();
  f.src = static_cast<int32_t>(src);
  f.dst = static_cast<int32_t>(dst);
  f.bytes = bytes;
  f.latency = topo_->latency_of(route);
  links_.insert(links_.end(), route.begin(), route.end());
  flows_.push_back(f);
}

double FlowSet::bytes_total() const {
  double b = 0;
  for (const auto& f : flows_) b += f.bytes * f.weight;
  return b;
}

void FlowSet::merge_identical() {
  std::vector<size_t> idx(flows_.size());
  std::iota(idx.begin(), idx.end(), 0);
  auto less = [&](size_t a, size_t b) {
    const Flow &x = flows_[a], &y = flows_[b];
    if (x.hops != y.hops) return x.hops < y.hops;
    if (x.bytes != y.bytes) return x.bytes < y.bytes;
    return std::lexicographical_compare(path(x), path(x) + x.hops, path(y), path(y) + y.hops);
  };
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return less(a, b) || (!less(b, a) && a < b); });
  std::vector<int64_t> keep_as(flows_.size(), -1);  // first flow of each identical run absorbs the rest
  for (size_t i = 0; i < idx.size();) {
    size_t j = i + 1;
    while (j < idx.size() && !less(idx[i], idx[j])) ++j;
    size_t first = idx[i];
    for (size_t k = i; k < j; ++k) first = std::min(first, idx[k]);
    for (size_t k = i; k < j; ++k)
      if (idx[k] != first) {
        keep_as[idx[k]] = static_cast<int64_t>(first);
        flows_[first].weight += flows_[idx[k]].weight;
      }
    i = j;
  }
  std::vector<Flow> out;
  out.reserve(flows_.size());
  for (size_t i = 0; i < flows_.size(); ++i)
    if (keep_as[i] < 0) out.push_back(flows_[i]);
  flows_ = std::move(out);
}

}  // namespace moesim
