// Running, resuming and merging sweeps.
#include "sim/sweep/sweep_runner.h"

#include <atomic>
#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <fmt/format.h>

#include "sim/base/progress_bar.h"
#include "sim/scenario/simulation.h"
#include "sim/sweep/sweep_output.h"
#include "sim/io/atomic_file.h"
#include "sim/io/input_file.h"
#include "sim/moe/routing_memo.h"

namespace fs = std::filesystem;

namespace moesim {
namespace {

// The sampled expert ids a sweep keeps for its points to share (sim/moe/routing_memo.h): DeepSeek-V3
// with 256 tokens per device on 32 devices holds 15 MB; beyond this, streams are drawn per point.
constexpr size_t kRoutingMemoBytes = size_t{512} << 20;

// The memo is on while the sweep's points run, and emptied after.
struct RoutingMemoScope {
  RoutingMemoScope() { SampledRoutingMemo::instance().set_budget(kRoutingMemoBytes); }
  ~RoutingMemoScope() { SampledRoutingMemo::instance().set_budget(0); }
  RoutingMemoScope(const RoutingMemoScope&) = delete;
  RoutingMemoScope& operator=(const RoutingMemoScope&) = delete;
};

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

// What DIR/sweep.json records: the sweep, and the shard when there are several.
OrderedJson sweep_record(const SweepSpec& spec, int64_t shard_index, int64_t shard_count) {
  OrderedJson c = spec.canonical;
  if (shard_count > 1) c["shard"] = {{"index", shard_index}, {"count", shard_count}};
  return c;
}

// A folder that already holds a sweep must hold this one.
void check_record(const std::string& dir, const OrderedJson& want, const std::string& sweep_file) {
  const std::string path = dir + "/sweep.json";
  if (!fs::exists(path)) {
    if (fs::exists(dir + "/results.jsonl"))
      throw input_error(dir + "/results.jsonl", "", "has no sweep.json beside it, so it cannot be resumed; use a new --out folder");
    return;
  }
  OrderedJson have;
  try {
    have = OrderedJson::parse(read_input_file(path, kMaxJsonFileBytes, "a sweep record"));
  } catch (const OrderedJson::exception&) {
    throw input_error(path, "", "not a sweep record (invalid JSON); use a new --out folder");
  }
  const std::string diff = sweep_difference(have, want);
  if (!diff.empty())
    throw input_error(path, diff, fmt::format("differs from the sweep {} (this folder holds another sweep or shard, or the sweep or its base "
                                              "experiment changed since); use a new --out folder, or delete this one to start over", sweep_file));
}

// Validates the points on `jobs` threads; rethrows the error of the lowest-index bad point.
void validate_points(const SweepSpec& spec, const std::vector<const SweepPoint*>& points, int jobs, bool progress) {
  std::vector<std::exception_ptr> errors(points.size());
  std::vector<std::pair<uint64_t, uint64_t>> fingerprints(points.size());
  std::atomic<size_t> first_bad{points.size()};
  {
    ProgressBar bar(static_cast<int64_t>(points.size()), 0, progress && !points.empty(), spec.name + ": validating");
    // The first point is built on this thread: that builds the registries (function-local
    // statics) once before the workers share them.
    if (!points.empty()) {
      fingerprints[0] = validate_point(spec, *points[0]);
      bar.tick();
    }
    boost::asio::thread_pool pool(static_cast<size_t>(jobs));
    for (size_t k = 1; k < points.size(); ++k)
      boost::asio::post(pool, [&, k] {
        if (k > first_bad.load()) return;  // a lower point already failed
        try {
          fingerprints[k] = validate_point(spec, *points[k]);
          bar.tick();
        } catch (...) {
          errors[k] = std::current_exception();
          size_t cur = first_bad.load();
          while (k < cur && !first_bad.compare_exchange_weak(cur, k)) {
          }
        }
      });
    pool.join();
    bar.finish();
  }
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  // Two points that resolve to the same experiment would run it twice under different names.
  std::map<std::pair<uint64_t, uint64_t>, size_t> seen;
  for (size_t k = 0; k < points.size(); ++k) {
    const auto [it, fresh] = seen.emplace(fingerprints[k], k);
    if (fresh) continue;
    const SweepPoint& a = *points[it->second];
    const SweepPoint& b = *points[k];
    throw input_error(spec.file, spec.mode == "list" ? fmt::format("$.points[{}]", b.index) : std::string("$.axes"),
                      fmt::format("point {} ({}) is the same experiment as point {} ({}) once defaults are filled in", b.index, b.describe(),
                                  a.index, a.describe()));
  }
}

// "3, 7, 10-15" (at most 20 entries).
std::string ranges(const std::vector<int64_t>& v) {
  std::string out;
  size_t n = 0;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    if (++n > 20) return out + ", ...";
    out += (out.empty() ? "" : ", ") + (i == j ? fmt::format("{}", v[i]) : fmt::format("{}-{}", v[i], v[j]));
    i = j + 1;
  }
  return out;
}

}  // namespace

Json run_point(const SweepSpec& spec, const SweepPoint& point) {
  Json row = {{"point", point.index}, {"id", point.id}, {"overrides", point.overrides_json()}};
  try {
    Simulation sim(point_experiment(spec, point));
    sim.freeze();
    sim.run();
    row["metrics"] = extract_metrics(sim.report(), spec.metrics);
    row["status"] = "ok";
  } catch (const std::exception& e) {
    row["metrics"] = Json::object();
    row["status"] = "error";
    row["error"] = one_line(e.what());
  }
  return row;
}

SweepRunSummary run_sweep(const SweepSpec& spec, const SweepRunOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  if (opt.jobs < 1) throw input_error("--jobs", "", "expected a positive number of worker threads");
  if (opt.shard_count < 1 || opt.shard_index < 0 || opt.shard_index >= opt.shard_count)
    throw input_error("--shard", "", fmt::format("expected I/N with 0 <= I < N, got {}/{}", opt.shard_index, opt.shard_count));
  const std::string& out = opt.out;
  const std::string results = out + "/results.jsonl";
  const OrderedJson record = sweep_record(spec, opt.shard_index, opt.shard_count);

  // Check what the folder holds, then validate what is left to run, before writing anything.
  std::unique_ptr<DirLock> lock;
  const bool existed = fs::is_directory(out);
  if (existed) {
    lock = std::make_unique<DirLock>(out);
    check_record(out, record, spec.file);
  } else if (fs::exists(out)) {
    throw input_error(out, "", "exists and is not a folder");
  }
  LoadedRows loaded = read_rows(results);
  check_rows(spec, results, loaded.rows, opt.shard_index, opt.shard_count);
  std::vector<bool> has_row(spec.points.size(), false);
  for (const auto& r : loaded.rows) has_row[r.row["point"].get<uint64_t>()] = true;
  SweepRunSummary summary;
  std::vector<const SweepPoint*> todo;
  for (const auto& p : spec.points) {
    if (p.index % opt.shard_count != opt.shard_index) continue;
    ++summary.points;
    if (!has_row[p.index]) todo.push_back(&p);
  }
  summary.already_done = summary.points - static_cast<int64_t>(todo.size());
  validate_points(spec, todo, opt.jobs, opt.progress);
  const RoutingMemoScope routing_memo;  // points replay the sampled expert ids of the first

  fs::create_directories(out);
  if (!lock) lock = std::make_unique<DirLock>(out);
  if (!fs::exists(out + "/sweep.json")) write_file_atomically(out + "/sweep.json", record.dump(2) + "\n");
  if (loaded.dropped_tail) {  // a kill mid-write left part of a row: cut it before appending
    write_file_atomically(results, loaded.valid_text);
    summary.dropped_tail = 1;
  }

  std::vector<Json> rows;
  for (auto& r : loaded.rows) rows.push_back(std::move(r.row));
  {
    RowAppender appender(results);
    ProgressBar bar(summary.points, summary.already_done, opt.progress, spec.name);
    std::mutex mutex;
    std::exception_ptr fatal;
    std::atomic<bool> stop{false};
    std::atomic<int64_t> started{0};
    boost::asio::thread_pool pool(static_cast<size_t>(opt.jobs));
    for (const SweepPoint* p : todo)
      boost::asio::post(pool, [&, p] {
        if (stop.load()) return;
        if (opt.stop_after >= 0 && started.fetch_add(1) >= opt.stop_after) return;
        try {
          Json row = run_point(spec, *p);
          appender.append(row);
          const bool failed = row["status"] != "ok";
          bar.tick(failed);
          std::lock_guard<std::mutex> g(mutex);
          summary.errors += failed ? 1 : 0;
          ++summary.ran;
          rows.push_back(std::move(row));
        } catch (...) {  // the output could not be written: stop
          std::lock_guard<std::mutex> g(mutex);
          if (!fatal) fatal = std::current_exception();
          stop = true;
        }
      });
    pool.join();
    bar.finish();
    if (fatal) std::rethrow_exception(fatal);
  }
  summary.complete = summary.already_done + summary.ran == summary.points;
  write_sorted_results(spec, out, std::move(rows));
  summary.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return summary;
}

int64_t merge_sweeps(const std::vector<std::string>& dirs, const std::string& out) {
  if (dirs.empty()) throw input_error("sweep merge", "", "no shard folders given");
  const SweepSpec spec = load_sweep(dirs[0] + "/sweep.json", true);
  const size_t n = spec.points.size();
  std::vector<std::vector<std::string>> owners(n);
  std::vector<Json> rows;
  for (const auto& dir : dirs) {
    const SweepSpec s = dir == dirs[0] ? spec : load_sweep(dir + "/sweep.json", true);
    if (const auto diff = sweep_difference(s.canonical, spec.canonical); !diff.empty())
      throw input_error(dir + "/sweep.json", diff, fmt::format("differs from {}/sweep.json: not shards of the same sweep", dirs[0]));
    const std::string path = dir + "/results.jsonl";
    LoadedRows loaded = read_rows(path);
    check_rows(s, path, loaded.rows, s.shard_index, s.shard_count);
    for (auto& r : loaded.rows) {
      owners[r.row["point"].get<uint64_t>()].push_back(dir);
      rows.push_back(std::move(r.row));
    }
  }
  std::vector<int64_t> missing;
  std::string duplicated;
  size_t dup_count = 0;
  for (size_t p = 0; p < n; ++p) {
    if (owners[p].empty()) missing.push_back(static_cast<int64_t>(p));
    if (owners[p].size() > 1 && ++dup_count <= 10) {
      std::string in;
      for (const auto& d : owners[p]) in += (in.empty() ? "" : " and ") + d;
      duplicated += fmt::format("{}point {} in {}", duplicated.empty() ? "" : "; ", p, in);
    }
  }
  if (!missing.empty() || dup_count) {
    std::string msg = fmt::format("cannot merge the sweep \"{}\" ({} points):", spec.name, n);
    if (!missing.empty()) msg += fmt::format(" {} missing ({}){}", missing.size(), ranges(missing), dup_count ? ";" : "");
    if (dup_count) msg += fmt::format(" {} duplicated ({}{})", dup_count, duplicated, dup_count > 10 ? "; ..." : "");
    throw input_error("sweep merge", "", msg);
  }
  OrderedJson record = spec.canonical;
  if (fs::exists(out + "/sweep.json")) {
    const SweepSpec existing = load_sweep(out + "/sweep.json", true);
    if (const auto diff = sweep_difference(existing.canonical, record); !diff.empty())
      throw input_error(out + "/sweep.json", diff, "the --out folder holds another sweep; use a new folder");
  }
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec || !fs::is_directory(out)) throw input_error("--out", "", fmt::format("{}: cannot create output folder: {}", out, ec ? ec.message() : "not a folder"));
  DirLock lock(out);
  write_file_atomically(out + "/sweep.json", record.dump(2) + "\n");
  write_sorted_results(spec, out, std::move(rows));
  return static_cast<int64_t>(n);
}

}  // namespace moesim
