// Running a sweep into an output folder, in parallel on a boost::asio::thread_pool, resumably:
// every point this run will execute is validated first; DIR/sweep.json records the sweep (a
// resume must match it); each finished point's row is appended to DIR/results.jsonl at once, in
// completion order, and points that already have a row are skipped. At the end results.jsonl
// is rewritten sorted by point and results.csv derived from it, so both files are the same for
// any --jobs. Merging shard folders into one is merge_sweeps.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sim/sweep/sweep_spec.h"

namespace moesim {

struct SweepRunOptions {
  std::string out;              // output folder
  int jobs = 1;                 // worker threads
  int64_t shard_index = 0;      // run the points with index % shard_count == shard_index
  int64_t shard_count = 1;
  bool progress = false;        // draw a progress bar on stderr
  int64_t stop_after = -1;      // testing: start at most this many points, then stop (as if killed)
};

struct SweepRunSummary {
  int64_t points = 0;        // points of this shard
  int64_t already_done = 0;  // rows found on start
  int64_t ran = 0;           // points run now
  int64_t errors = 0;        // error rows among those run now
  int64_t dropped_tail = 0;  // 1 when a truncated last row was repaired
  double wall_s = 0;
  bool complete = false;     // every point of the shard has a row
};

// One point's row: {"point", "id", "status": "ok"|"error", "overrides", "metrics", "error"}.
// A pure function of the point; an error at run time becomes an error row.
Json run_point(const SweepSpec& spec, const SweepPoint& point);

SweepRunSummary run_sweep(const SweepSpec& spec, const SweepRunOptions& options);

// Merges the folders of a sweep's shards into `out`: the same sweep in every folder, every
// point exactly once. Returns the number of points.
int64_t merge_sweeps(const std::vector<std::string>& dirs, const std::string& out);

}  // namespace moesim
