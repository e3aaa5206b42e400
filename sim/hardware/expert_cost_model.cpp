#include "sim/hardware/expert_cost_model.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "sim/hardware/roofline.h"
#include "sim/io/errors.h"
#include "sim/hardware/roofline.h"

namespace moesim {
namespace {

// Where x falls among sorted grid values: the two neighbours and the weight of the upper one,
// linear in log(x). Outside the grid: the nearest value, with `outside` set.
struct Bracket {
  int64_t lo = 0, hi = 0;
  double w_hi = 0;
  bool outside = false;
};

Bracket bracket(const std::vector<int64_t>& v, int64_t x) {
  Bracket b;
  if (x <= v.front() || x >= v.back()) {
    b.lo = b.hi = x <= v.front() ? v.front() : v.back();
    b.outside = x < v.front() || x > v.back();
    return b;
  }
  const auto it = std::lower_bound(v.begin(), v.end(), x);
  if (*it == x) {
    b.lo = b.hi = x;
    return b;
  }
  b.lo = *(it - 1), b.hi = *it;
  b.w_hi = std::log(double(x) / double(b.lo)) / std::log(double(b.hi) / double(b.lo));
  return b;
}

// Weight of the upper measured count hi for lo < n < hi. With a token tile T, kernels pad each
// expert's rows to whole tiles, so the time steps with ceil(n / T): the weight is the share of
// the tiles between lo and hi that n already needs (136 tokens with T = 64 need the 3 tiles of
// 160 already). Without a tile, or with lo and hi in the same tile, linear in log(n).
double token_weight(int64_t lo, int64_t hi, int64_t n, int64_t tile) {
  if (tile > 0) {
    const auto tiles = [tile](int64_t x) { return (x + tile - 1) / tile; };
    if (tiles(hi) > tiles(lo)) return double(tiles(n) - tiles(lo)) / double(tiles(hi) - tiles(lo));
  }
  return std::log(double(n) / double(lo)) / std::log(double(hi) / double(lo));
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

std::shared_ptr<const CalibrationTable> find_calibration(const HardwareProfile& hw, const std::string& data_dir) {
  // A profile may borrow another device's table ("calibration_from"), e.g. the H800, whose die,
  // SMs and HBM are the H100's.
  const std::string& name = hw.calibration_from.empty() ? hw.name : hw.calibration_from;
  const auto path = (std::filesystem::path(data_dir) / "hw_profiles" / (name + ".calibration.json")).string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (!hw.calibration_from.empty())  // a misspelt name would silently drop the measured tables
      throw input_error(hw.file, hw.json_path + ".calibration_from", fmt::format("names profile \"{}\", which has no measured table ({} does not exist)", name, path));
    return nullptr;
  }
  auto t = load_calibration_file(path);
  if (t->hardware != name)
    throw input_error(path, "$.hardware", fmt::format("table is for \"{}\" but the profile asks for \"{}\"", t->hardware, name));
  return t;
}


ExpertCostModel::ExpertCostModel(const HardwareProfile& hw, std::shared_ptr<const CalibrationTable> table, const std::string& backend,
                                 bool allow_extrapolation)
    : hw_(hw), table_(std::move(table)), backend_(backend), allow_extrapolation_(allow_extrapolation) {
  if (backend_.empty()) return;
  source_ = "calibrated:" + backend_;
  if (!table_)
    throw InputError(fmt::format("hardware \"{}\": no calibration table (hw_profiles/{}.calibration.json); run "
                                 "calibration/run_calibration.sh on that GPU, or use the roofline (no kernel backend)",
                                 hw_.name, hw_.name));
  const auto names = table_->backends();
  if (std::find(names.begin(), names.end(), backend_) == names.end())
    throw input_error(table_->file, "$.expert_block", fmt::format("no table for backend \"{}\"; did you mean \"{}\"? (has: {})",
                                                                  backend_, closest(backend_, names), join(names)));
  for (const auto& [key, t] : table_->blocks) {
    Index ix;
    std::set<int64_t> h, f, e;
    for (size_t i = 0; i < t.uniform.size(); ++i) {
      const auto& c = t.uniform[i];
      h.insert(c.hidden), f.insert(c.intermediate), e.insert(c.experts);
      ix.cells[{c.hidden, c.intermediate, c.experts}] = i;
    }
    ix.hidden.assign(h.begin(), h.end());
    ix.intermediate.assign(f.begin(), f.end());
    ix.experts.assign(e.begin(), e.end());
    index_[key] = std::move(ix);
  }
}

std::vector<std::string> ExpertCostModel::backends() const { return table_ ? table_->backends() : std::vector<std::string>{}; }

std::optional<ExpertCostModel::Share> ExpertCostModel::share(const ExpertBlockTable& t, const Index& ix, int64_t hidden,
                                                             int64_t intermediate, int64_t experts, int64_t tokens, bool allow,
                                                             std::string* why) const {
  const Bracket bh = bracket(ix.hidden, hidden), bf = bracket(ix.intermediate, intermediate), be = bracket(ix.experts, experts);
  Share out;
  auto refuse = [&](const std::string& msg) -> std::optional<Share> {
    if (why) *why = msg;
    return std::nullopt;
  };
  auto grid = [](const std::vector<int64_t>& v) { return fmt::format("[{}, {}]", v.front(), v.back()); };
  if ((bh.outside || bf.outside || be.outside) && !allow) {
    if (bh.outside) return refuse(fmt::format("hidden {} is outside the measured grid {}", hidden, grid(ix.hidden)));
    if (bf.outside) return refuse(fmt::format("intermediate {} is outside the measured grid {}", intermediate, grid(ix.intermediate)));
    return refuse(fmt::format("{} active experts is outside the measured grid {}", experts, grid(ix.experts)));
  }
  out.extrapolated = bh.outside || bf.outside || be.outside;
  // Above the shape grid both FLOPs and weight bytes scale with hidden x intermediate. Below it
  // the block keeps the smallest measured shape's time, as below the smallest token count: there
  // launch and per-tile overheads dominate and do not shrink with the shape (a proportional
  // scaling took hidden 1 x intermediate 1 to 97 ps, below any kernel launch).
  const double shape_scale = std::max(0.0, std::log(double(hidden) / double(bh.lo))) * bh.outside +
                             std::max(0.0, std::log(double(intermediate) / double(bf.lo))) * bf.outside;
  double acc = 0, wsum = 0;
  const std::pair<int64_t, double> hs[2] = {{bh.lo, 1 - bh.w_hi}, {bh.hi, bh.w_hi}};
  const std::pair<int64_t, double> fs[2] = {{bf.lo, 1 - bf.w_hi}, {bf.hi, bf.w_hi}};
  const std::pair<int64_t, double> es[2] = {{be.lo, 1 - be.w_hi}, {be.hi, be.w_hi}};
  for (const auto& [h, wh] : hs)
    for (const auto& [f, wf] : fs)
      for (const auto& [e, we] : es) {
        const double w = wh * wf * we;
        if (w <= 0) continue;
        const auto it = ix.cells.find({h, f, e});
        if (it == ix.cells.end()) {
          if (!allow) return refuse(fmt::format("no measurement for hidden={} intermediate={} experts={}", h, f, e));
          out.extrapolated = true;
          continue;
        }
        const auto& c = t.uniform[it->second];
        double log_t;
        if (tokens < c.tokens.front() || tokens > c.tokens.back()) {
          if (!allow)
            return refuse(fmt::format("{} tokens per expert is outside the measured range [{}, {}] of hidden={} intermediate={} experts={}",
                                      tokens, c.tokens.front(), c.tokens.back(), h, f, e));
          out.extrapolated = true;
          // Above the largest count: proportional to tokens (the compute-bound limit); below: flat.
          log_t = tokens > c.tokens.back() ? std::log(c.median_us.back()) + std::log(double(tokens) / double(c.tokens.back()))
                                           : std::log(c.median_us.front());
        } else {
          const size_t k = size_t(std::upper_bound(c.tokens.begin(), c.tokens.end(), tokens) - c.tokens.begin()) - 1;
          if (c.tokens[k] == tokens) {
            log_t = std::log(c.median_us[k]);
          } else {
            const double u = token_weight(c.tokens[k], c.tokens[k + 1], tokens, t.token_tile);
            log_t = (1 - u) * std::log(c.median_us[k]) + u * std::log(c.median_us[k + 1]);
          }
        }
        acc += w * (log_t - std::log(double(e)));
        wsum += w;
      }
  if (wsum <= 0) return refuse(fmt::format("no measured neighbours of hidden={} intermediate={} experts={}", hidden, intermediate, experts));
  out.log_us = acc / wsum + shape_scale;
  return out;
}

std::optional<ExpertCostModel::Share> ExpertCostModel::cached_share(const ExpertBlockTable& t, const Index& ix, int64_t hidden,
                                                                    int64_t intermediate, int64_t experts, int64_t tokens, bool allow,
                                                                    std::string* why) const {
  const ShareKey key{&t, hidden, intermediate, experts, tokens, allow};
  {
    const std::lock_guard<std::mutex> lock(share_mutex_);
    if (const auto it = shares_.find(key); it != shares_.end() && (it->second || !why)) return it->second;
  }
  const auto s = share(t, ix, hidden, intermediate, experts, tokens, allow, why);
  const std::lock_guard<std::mutex> lock(share_mutex_);
  shares_.emplace(key, s);
  return s;
}

ExpertBlockEstimate ExpertCostModel::roofline(int64_t hidden, int64_t intermediate, Dtype dtype,
                                              const std::vector<int64_t>& counts) const {
  ExpertBlockEstimate e;
  e.source = "roofline";
  bool any = false;
  for (int64_t n : counts) any = any || n > 0;
  if (any) e.time = RooflineModel(hw_).estimate(grouped_swiglu_cost(hidden, static_cast<double>(intermediate), dtype, dtype_bytes(dtype), 2.0, counts)).time;
  return e;
}

ExpertBlockEstimate ExpertCostModel::expert_block(int64_t hidden, int64_t intermediate, Dtype dtype_kind,
                                                  const std::vector<int64_t>& counts) const {
  const std::string dtype = dtype_name(dtype_kind);
  if (hidden <= 0 || intermediate <= 0) throw InputError(fmt::format("expert block: hidden ({}) and intermediate ({}) must be positive", hidden, intermediate));
  for (int64_t n : counts)
    if (n < 0) throw InputError(fmt::format("expert block: token counts must be >= 0, got {}", n));
  if (!calibrated()) return roofline(hidden, intermediate, dtype_kind, counts);
  const ExpertBlockTable* t = table_->find(backend_, dtype);
  if (!t)
    throw input_error(table_->file, "$.expert_block." + backend_,
                      fmt::format("no \"{}\" table for backend \"{}\" (has: {})", dtype, backend_, join(table_->dtypes(backend_))));
  const Index& ix = index_.at({backend_, dtype});
  std::vector<int64_t> active;
  for (int64_t n : counts)
    if (n > 0) active.push_back(n);
  ExpertBlockEstimate e;
  e.source = source_;
  if (active.empty()) return e;
  std::sort(active.begin(), active.end());
  const int64_t ea = int64_t(active.size());
  double total_us = 0;
  int64_t tokens = 0;
  for (size_t i = 0; i < active.size();) {
    size_t j = i;
    while (j < active.size() && active[j] == active[i]) ++j;
    std::string why;
    const auto s = cached_share(*t, ix, hidden, intermediate, ea, active[i], allow_extrapolation_, &why);
    if (!s)
      throw InputError(fmt::format("{}: backend \"{}\" {}: {} (allow extrapolation to go beyond the measured grid)", table_->file, backend_,
                                   dtype, why));
    total_us += double(j - i) * std::exp(s->log_us);
    e.extrapolated = e.extrapolated || s->extrapolated;
    tokens += active[i] * int64_t(j - i);
    i = j;
  }
  // Uneven counts: never faster than the largest expert's block alone (when that is measured).
  if (active.back() * ea > tokens) {
    if (const auto m = cached_share(*t, ix, hidden, intermediate, 1, active.back(), false, nullptr)) total_us = std::max(total_us, std::exp(m->log_us));
  }
  e.time = SimTime::from_us(total_us);
  return e;
}

}  // namespace moesim
