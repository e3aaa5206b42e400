// Routing statistics for `moesim trace stats` (definitions in trace_stats.h).
#include "sim/import/trace_stats.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "sim/io/errors.h"
#include "sim/io/expert_counts_file.h"
#include "sim/io/json_reader.h"
#include "sim/io/routing_trace.h"
#include "sim/io/input_file.h"

namespace moesim {
namespace {

// One non-zero count n(a, b) of a joint table; a table is its cells in row-major order (a, then b
// ascending), so that every sum below adds in the order of a walk over the full table.
struct JointCell {
  int32_t a = 0, b = 0;
  double n = 0;
};

LayerAffinity affinity(const std::vector<JointCell>& joint, size_t A, size_t B, int64_t from, const std::string& basis) {
  std::vector<double> row(A, 0.0), col(B, 0.0), best(A, 0.0);
  for (const JointCell& c : joint) {
    row[static_cast<size_t>(c.a)] += c.n;
    col[static_cast<size_t>(c.b)] += c.n;
    best[static_cast<size_t>(c.a)] = std::max(best[static_cast<size_t>(c.a)], c.n);
  }
  double n = 0, best_successors = 0;
  for (size_t a = 0; a < A; ++a) n += row[a], best_successors += best[a];
  LayerAffinity out;
  out.from_layer = from;
  out.basis = basis;
  if (n <= 0) return out;
  double mi = 0, cells = 0, rows = 0, cols = 0;
  for (const JointCell& c : joint)
    if (c.n > 0) {
      mi += c.n / n * std::log2(c.n * n / (row[static_cast<size_t>(c.a)] * col[static_cast<size_t>(c.b)]));
      cells += 1;
    }
  for (double r : row) rows += r > 0;
  for (double c : col) cols += c > 0;
  out.mi_bits = std::max(0.0, mi - (cells - rows - cols + 1) / (2 * n * std::log(2.0)));
  out.hit = best_successors / n;
  out.hit_independent = B ? *std::max_element(col.begin(), col.end()) / n : 0.0;
  return out;
}

std::vector<JointCell> cells_of(const std::vector<std::vector<double>>& dense) {
  std::vector<JointCell> cells;
  for (size_t a = 0; a < dense.size(); ++a)
    for (size_t b = 0; b < dense[a].size(); ++b)
      if (dense[a][b] != 0) cells.push_back({static_cast<int32_t>(a), static_cast<int32_t>(b), dense[a][b]});
  return cells;
}

// The joint counts of (prev[t], cur[t]) over experts [0, E): a table while E x E stays small,
// else the pairs sorted (a trace may declare up to 2^20 experts: the table would not fit).
std::vector<JointCell> pair_cells(const std::vector<int32_t>& prev, const std::vector<int32_t>& cur, size_t E) {
  constexpr size_t kMaxTableCells = size_t{1} << 22;
  std::vector<JointCell> cells;
  if (E * E <= kMaxTableCells) {
    std::vector<int64_t> table(E * E, 0);
    for (size_t t = 0; t < cur.size(); ++t) ++table[static_cast<size_t>(prev[t]) * E + static_cast<size_t>(cur[t])];
    for (size_t i = 0; i < table.size(); ++i)
      if (table[i] > 0) cells.push_back({static_cast<int32_t>(i / E), static_cast<int32_t>(i % E), static_cast<double>(table[i])});
    return cells;
  }
  std::vector<uint64_t> keys(cur.size());
  for (size_t t = 0; t < cur.size(); ++t) keys[t] = static_cast<uint64_t>(prev[t]) << 32 | static_cast<uint32_t>(cur[t]);
  std::sort(keys.begin(), keys.end());
  for (size_t i = 0; i < keys.size();) {
    size_t j = i;
    while (j < keys.size() && keys[j] == keys[i]) ++j;
    cells.push_back({static_cast<int32_t>(keys[i] >> 32), static_cast<int32_t>(keys[i] & 0xFFFFFFFFu), static_cast<double>(j - i)});
    i = j;
  }
  return cells;
}

RoutingStats trace_stats(const std::string& path) {
  const RoutingTrace trace(path);
  const auto& h = trace.header();
  RoutingStats s;
  s.file = path;
  s.kind = "trace";
  s.model = h.model;
  s.source = h.source;
  s.num_experts = h.num_experts;
  s.top_k = h.top_k;
  s.tokens = h.tokens;
  const size_t E = static_cast<size_t>(h.num_experts);
  // Every stored layer keeps a load per expert (a placement needs them all): a few KB of header
  // can declare 2^20 experts over thousands of layers, which would not fit in memory.
  constexpr double kMaxLoadCells = 134217728.0;  // 2^27 doubles: 1 GiB
  const double cells = static_cast<double>(E) * static_cast<double>(h.layers.size());
  if (cells > kMaxLoadCells)
    throw input_error(path, "meta",
                      fmt::format("num_experts {} x {} stored layers needs {:.1f} GiB of per-expert loads; trace stats keeps at most 1 GiB (2^27 loads)",
                                  h.num_experts, h.layers.size(), cells * 8.0 / 1073741824.0));
  std::vector<int32_t> ids(static_cast<size_t>(h.top_k));
  std::vector<float> w(static_cast<size_t>(h.top_k));
  std::vector<int32_t> prev_top1, top1(static_cast<size_t>(h.tokens));
  for (size_t l = 0; l < h.layers.size(); ++l) {
    LayerStats ls;
    ls.layer = h.layers[l];
    ls.tokens = h.tokens;
    ls.assignments = static_cast<double>(h.tokens * h.top_k);
    ls.loads.assign(E, 0.0);
    for (int64_t t = 0; t < h.tokens; ++t) {
      trace.read_token(l, t, ids.data(), trace.has_weights() ? w.data() : nullptr);
      size_t best = 0;
      for (size_t i = 0; i < ids.size(); ++i) {
        ls.loads[static_cast<size_t>(ids[i])] += 1;
        if (trace.has_weights() && w[i] > w[best]) best = i;
      }
      top1[static_cast<size_t>(t)] = ids[best];
    }
    if (l > 0) ls.affinity = affinity(pair_cells(prev_top1, top1, E), E, E, h.layers[l - 1], "top-1");
    std::swap(prev_top1, top1);
    top1.resize(prev_top1.size());
    s.layers.push_back(std::move(ls));
  }
  return s;
}

RoutingStats counts_stats(const std::string& path) {
  const ExpertCounts c = load_expert_counts(path);
  RoutingStats s;
  s.file = path;
  s.kind = "counts";
  s.model = c.model;
  s.source = c.source.empty() ? c.format : c.source;
  s.num_experts = c.num_experts;
  s.top_k = c.top_k;
  for (size_t l = 0; l < c.layers.size(); ++l) {
    LayerStats ls;
    ls.layer = c.layers[l];
    ls.loads = c.counts[l];
    for (double x : ls.loads) ls.assignments += x;
    if (c.top_k > 0) ls.tokens = static_cast<int64_t>(std::llround(ls.assignments / static_cast<double>(c.top_k)));
    if (l > 0) {
      const auto it = c.pair_counts.find(fmt::format("{}->{}", c.layers[l - 1], c.layers[l]));
      if (it != c.pair_counts.end()) {
        const auto& dense = it->second;
        ls.affinity = affinity(cells_of(dense), dense.size(), dense.empty() ? 0 : dense[0].size(), c.layers[l - 1], "pair_counts");
      }
    }
    if (ls.tokens >= 0 && ls.moe()) s.tokens = std::max(s.tokens, ls.tokens);
    s.layers.push_back(std::move(ls));
  }
  return s;
}

Json number_or_null(std::optional<double> v) { return v && std::isfinite(*v) ? Json(*v) : Json(nullptr); }

}  // namespace

double LayerStats::load_max_over_mean() const {
  if (!moe() || loads.empty()) return std::numeric_limits<double>::quiet_NaN();
  return *std::max_element(loads.begin(), loads.end()) / (assignments / static_cast<double>(loads.size()));
}

RoutingStats routing_stats(const std::string& path) {
  check_input_file(path, kMaxBinaryFileBytes, "a routing file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path, "", "cannot open file");
  char magic[2] = {};
  in.read(magic, 2);
  if (in.gcount() == 2 && magic[0] == 'P' && magic[1] == 'K') return trace_stats(path);
  // Not a zip: a counts JSON, unless it is named as a trace (an empty or cut .npz is no JSON).
  if (std::filesystem::path(path).extension() == ".npz")
    throw input_error(path, "", in.gcount() == 0 ? "empty file: expected a moesim trace (.npz, a zip archive)" : "not a zip archive: expected a moesim trace (.npz)");
  return counts_stats(path);
}

Json stats_to_json(const RoutingStats& s, const StatsPlacement* p) {
  Json j = {{"file", s.file}, {"kind", s.kind}, {"model", s.model}, {"source", s.source}, {"num_experts", s.num_experts},
            {"top_k", s.top_k ? Json(s.top_k) : Json(nullptr)}, {"tokens", s.tokens >= 0 ? Json(s.tokens) : Json(nullptr)}};
  Json layers = Json::array();
  double lmm = 0, dmm = 0, mi = 0;
  int64_t moe = 0, with_affinity = 0;
  for (const auto& l : s.layers) {
    Json o = {{"layer", l.layer}, {"tokens", l.tokens >= 0 ? Json(l.tokens) : Json(nullptr)}, {"assignments", l.assignments},
              {"load_max_over_mean", number_or_null(l.moe() ? std::optional<double>(l.load_max_over_mean()) : std::nullopt)}};
    if (l.affinity)
      o["affinity"] = {{"from_layer", l.affinity->from_layer}, {"basis", l.affinity->basis}, {"mi_bits", l.affinity->mi_bits},
                       {"top1_successor_hit", l.affinity->hit}, {"top1_successor_hit_independent", l.affinity->hit_independent}};
    if (p) o["device_load_max_over_mean"] = number_or_null(l.device_load_max_over_mean);
    layers.push_back(std::move(o));
    if (l.moe()) {
      ++moe;
      lmm += l.load_max_over_mean();
      if (l.device_load_max_over_mean) dmm += *l.device_load_max_over_mean;
    }
    if (l.affinity) ++with_affinity, mi += l.affinity->mi_bits;
  }
  j["moe_layers"] = moe;
  j["load_max_over_mean"] = moe ? Json(lmm / static_cast<double>(moe)) : Json(nullptr);
  if (with_affinity) j["affinity_mi_bits"] = mi / static_cast<double>(with_affinity);
  if (p) {
    j["placement"] = {{"policy", p->policy}, {"devices", p->devices}, {"redundant", p->redundant}, {"devices_per_node", p->devices_per_node},
                      {"groups", p->groups}};
    j["device_load_max_over_mean"] = moe ? Json(dmm / static_cast<double>(moe)) : Json(nullptr);
  }
  j["layers"] = std::move(layers);
  return j;
}

std::string stats_to_text(const RoutingStats& s, const StatsPlacement* p) {
  std::string out = fmt::format("{}: {} of {}, {} experts, top-{}, {} tokens\n  source: {}\n", s.file, s.kind, s.model.empty() ? "?" : s.model,
                                s.num_experts, s.top_k ? std::to_string(s.top_k) : "?", s.tokens >= 0 ? std::to_string(s.tokens) : "?", s.source);
  out += fmt::format("{:>6} {:>10} {:>12} {:>9}", "layer", "tokens", "assignments", "max/mean");
  if (p) out += fmt::format(" {:>11}", "dev max/mean");
  out += fmt::format(" {:>8} {:>8} {:>8}\n", "MI bits", "succ hit", "indep");
  const Json j = stats_to_json(s, p);
  for (const auto& l : s.layers) {
    out += fmt::format("{:>6} {:>10} {:>12.0f} {:>9}", l.layer, l.tokens >= 0 ? std::to_string(l.tokens) : "?", l.assignments,
                       l.moe() ? fmt::format("{:.3f}", l.load_max_over_mean()) : "-");
    if (p) out += fmt::format(" {:>11}", l.device_load_max_over_mean ? fmt::format("{:.3f}", *l.device_load_max_over_mean) : "-");
    if (l.affinity) out += fmt::format(" {:>8.3f} {:>8.3f} {:>8.3f}", l.affinity->mi_bits, l.affinity->hit, l.affinity->hit_independent);
    out += "\n";
  }
  out += fmt::format("mean over {} MoE layers: max/mean expert load {}", j["moe_layers"].get<int64_t>(),
                     j["load_max_over_mean"].is_null() ? "-" : fmt::format("{:.3f}", j["load_max_over_mean"].get<double>()));
  if (p && !j["device_load_max_over_mean"].is_null())
    out += fmt::format(", max/mean device load {:.3f} ({} on {} devices, {} redundant)", j["device_load_max_over_mean"].get<double>(), p->policy,
                       p->devices, p->redundant);
  if (j.contains("affinity_mi_bits")) out += fmt::format(", affinity {:.3f} bits", j["affinity_mi_bits"].get<double>());
  return out + "\n";
}

}  // namespace moesim
