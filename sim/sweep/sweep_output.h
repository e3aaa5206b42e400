// A sweep's output folder. DIR/results.jsonl holds one JSON row per point, appended with one
// write(2) on an O_APPEND descriptor followed by fdatasync, so that a killed sweep leaves only
// complete rows and at most one truncated last line (dropped, and the file repaired, on reading).
// DIR/results.csv is derived from the rows; both final files are written by temp + rename, sorted
// by point. DIR/.lock keeps two sweeps from writing one folder at once.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "sim/sweep/sweep_spec.h"

namespace moesim {

struct LoadedRow {
  Json row;
  size_t line = 0;  // 1-based line in the file
};

struct LoadedRows {
  std::vector<LoadedRow> rows;
  bool dropped_tail = false;  // a truncated or unparsable last line was dropped
  std::string valid_text;     // the file's text up to the end of its last complete row
};

// Reads DIR/results.jsonl (no file: no rows). A bad line other than the last is an InputError.
LoadedRows read_rows(const std::string& path);

// Checks that every row belongs to `spec` (its point exists and has the row's id) and to the
// shard; throws an InputError naming the file and line otherwise. Duplicate points are errors.
void check_rows(const SweepSpec& spec, const std::string& path, const std::vector<LoadedRow>& rows, int64_t shard_index,
                int64_t shard_count);

// Appends rows to a file, one write(2) + fdatasync per row; safe to call from several threads.
class RowAppender {
 public:
  explicit RowAppender(const std::string& path);
  ~RowAppender();
  RowAppender(const RowAppender&) = delete;
  RowAppender& operator=(const RowAppender&) = delete;
  void append(const Json& row);

 private:
  std::string path_;
  int fd_ = -1;
  std::mutex mutex_;
};

// Sorts by point and writes DIR/results.jsonl and DIR/results.csv atomically.
void write_sorted_results(const SweepSpec& spec, const std::string& dir, std::vector<Json> rows);

// The CSV: point, id, status, the override paths, the metric names (wildcards expanded in key
// order), error.
std::string results_csv(const SweepSpec& spec, const std::vector<Json>& sorted_rows);

// The metrics of one report: each name's value (null when the report has none); a name ending
// in "*" gives one entry per scalar member of that object.
Json extract_metrics(const Json& report, const std::vector<std::string>& metrics);

// An exclusive lock on DIR/.lock (flock), held while this object lives; an InputError if another
// process holds it. The file is removed when the lock is released, so a refused or finished
// sweep leaves no .lock behind; a lock taken on a file that was removed meanwhile (the path no
// longer names the locked inode) is dropped and taken again on the new file.
class DirLock {
 public:
  explicit DirLock(const std::string& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace moesim
