// Rows of a sweep's output folder: reading (with repair of a truncated tail), checking against
// the sweep, durable appends, the sorted final files and the CSV; the folder lock.
#include "sim/sweep/sweep_output.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "sim/io/atomic_file.h"

namespace moesim {
namespace {

bool is_row(const Json& r) {
  return r.is_object() && r.contains("point") && r["point"].is_number_unsigned() && r.contains("id") && r["id"].is_string() &&
         r.contains("status") && (r["status"] == "ok" || r["status"] == "error");
}

// One row as a line, keys in a fixed order, so that a row reads and rewrites byte for byte.
std::string row_line(const Json& row) {
  OrderedJson o;
  for (const char* k : {"point", "id", "status", "overrides", "metrics", "error"})
    if (row.contains(k)) o[k] = row[k];
  return o.dump() + "\n";
}

std::string csv_cell(const Json& v) {
  if (v.is_null()) return "";
  std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

LoadedRows read_rows(const std::string& path) {
  LoadedRows out;
  std::ifstream in(path, std::ios::binary);
  if (!in) return out;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  size_t pos = 0, line = 0;
  while (pos < text.size()) {
    ++line;
    const size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) {  // killed mid-write: the row is not there
      out.dropped_tail = true;
      break;
    }
    const std::string l = text.substr(pos, nl - pos);
    if (l.find_first_not_of(" \t\r") != std::string::npos) {
      Json row;
      try {
        row = Json::parse(l);
      } catch (const Json::parse_error&) {
        row = nullptr;
      }
      if (!is_row(row)) {
        if (nl + 1 == text.size()) {
          out.dropped_tail = true;
          break;
        }
        throw input_error(path, fmt::format("line {}", line), "not a sweep result row; remove the line (or the folder) and rerun");
      }
      out.rows.push_back({std::move(row), line});
    }
    pos = nl + 1;
  }
  out.valid_text = text.substr(0, pos);
  return out;
}

void check_rows(const SweepSpec& spec, const std::string& path, const std::vector<LoadedRow>& rows, int64_t shard_index,
                int64_t shard_count) {
  std::vector<size_t> seen(spec.points.size(), 0);
  for (const auto& [row, line] : rows) {
    const auto p = row["point"].get<uint64_t>();
    const std::string where = fmt::format("line {}", line);
    if (p >= spec.points.size())
      throw input_error(path, where, fmt::format("point {} is not in the sweep \"{}\" ({} points)", p, spec.name, spec.points.size()));
    const auto& point = spec.points[p];
    if (row["id"] != point.id)
      throw input_error(path, where, fmt::format("point {} has id {}, but the sweep's point {} ({}) has id {}: these results come from another sweep",
                                                 p, row["id"].get<std::string>(), p, point.describe(), point.id));
    if (!row.contains("overrides") || row["overrides"] != point.overrides_json())
      throw input_error(path, where, fmt::format("point {} has overrides {}, but the sweep's point {} has {}: the row was edited or comes from another sweep",
                                                 p, row.contains("overrides") ? row["overrides"].dump() : "none", p, point.overrides_json().dump()));
    if (static_cast<int64_t>(p) % shard_count != shard_index)
      throw input_error(path, where, fmt::format("point {} does not belong to shard {}/{}", p, shard_index, shard_count));
    if (seen[p]) throw input_error(path, where, fmt::format("point {} already has a row at line {}", p, seen[p]));
    seen[p] = line;
  }
}

RowAppender::RowAppender(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error(fmt::format("{}: cannot open for appending: {}", path, std::strerror(errno)));
}

RowAppender::~RowAppender() {
  if (fd_ >= 0) ::close(fd_);
}

void RowAppender::append(const Json& row) {
  const std::string line = row_line(row);
  std::lock_guard<std::mutex> lock(mutex_);
  size_t done = 0;
  while (done < line.size()) {  // one write(2) for a regular file; the loop only guards EINTR
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(fmt::format("{}: write failed: {}", path_, std::strerror(errno)));
    done += static_cast<size_t>(n);
  }
  if (::fdatasync(fd_) != 0) throw std::runtime_error(fmt::format("{}: fdatasync failed: {}", path_, std::strerror(errno)));
}

Json extract_metrics(const Json& report, const std::vector<std::string>& metrics) {
  Json out = Json::object();
  for (const auto& name : metrics) {
    const MetricPath m = metric_path(name);
    const Json* v = nullptr;
    try {
      const Json::json_pointer ptr(m.pointer);
      if (report.contains(ptr)) v = &report.at(ptr);
    } catch (const Json::exception&) {
      v = nullptr;
    }
    if (!m.wildcard) {
      out[name] = v ? *v : Json(nullptr);
      continue;
    }
    if (!v || !v->is_object()) continue;
    for (auto it = v->begin(); it != v->end(); ++it)
      if (it->is_primitive() && !out.contains(m.prefix + it.key())) out[m.prefix + it.key()] = *it;
  }
  return out;
}

std::string results_csv(const SweepSpec& spec, const std::vector<Json>& rows) {
  std::vector<std::string> metric_cols;
  auto add = [&](const std::string& c) {
    if (std::find(metric_cols.begin(), metric_cols.end(), c) == metric_cols.end()) metric_cols.push_back(c);
  };
  for (const auto& name : spec.metrics) {
    const MetricPath m = metric_path(name);
    if (!m.wildcard) {
      add(name);
      continue;
    }
    std::set<std::string> members;
    for (const auto& r : rows)
      if (r.contains("metrics"))
        for (auto it = r["metrics"].begin(); it != r["metrics"].end(); ++it)
          if (it.key().starts_with(m.prefix)) members.insert(it.key());
    for (const auto& c : members) add(c);
  }
  std::string out = "point,id,status";
  for (const auto& c : spec.columns) out.append(1, ',') += csv_cell(Json(c));
  for (const auto& c : metric_cols) out.append(1, ',') += csv_cell(Json(c));
  out += ",error\n";
  for (const auto& r : rows) {
    out += fmt::format("{},{},{}", r["point"].get<uint64_t>(), r["id"].get<std::string>(), r["status"].get<std::string>());
    const Json& ov = r.contains("overrides") ? r["overrides"] : Json::object();
    const Json& me = r.contains("metrics") ? r["metrics"] : Json::object();
    for (const auto& c : spec.columns) out.append(1, ',') += ov.contains(c) ? csv_cell(ov[c]) : std::string();
    for (const auto& c : metric_cols) out.append(1, ',') += me.contains(c) ? csv_cell(me[c]) : std::string();
    out.append(1, ',') += r.contains("error") ? csv_cell(r["error"]) : std::string();
    out += "\n";
  }
  return out;
}

void write_sorted_results(const SweepSpec& spec, const std::string& dir, std::vector<Json> rows) {
  std::sort(rows.begin(), rows.end(), [](const Json& a, const Json& b) { return a["point"].get<uint64_t>() < b["point"].get<uint64_t>(); });
  std::string jsonl;
  for (const auto& r : rows) jsonl += row_line(r);
  write_file_atomically(dir + "/results.jsonl", jsonl);
  write_file_atomically(dir + "/results.csv", results_csv(spec, rows));
}

namespace {

// Whether the open file fd is still the one `path` names (a releasing holder may have removed it).
bool names_same_file(int fd, const std::string& path) {
  struct stat held{}, named{};
  return ::fstat(fd, &held) == 0 && ::stat(path.c_str(), &named) == 0 && held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

}  // namespace

DirLock::DirLock(const std::string& dir) : path_(dir + "/.lock") {
  for (int attempt = 0; attempt < 100; ++attempt) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw input_error(dir, "", fmt::format("cannot create {}: {}", path_, std::strerror(errno)));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      fd_ = -1;
      throw input_error(dir, "", "another moesim sweep is writing to this folder (it holds .lock)");
    }
    if (names_same_file(fd_, path_)) return;
    ::close(fd_);  // locked a file its holder removed on release: lock the current one
    fd_ = -1;
  }
  throw input_error(dir, "", "cannot take .lock: it is being created and removed by other processes");
}

DirLock::~DirLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still holding the lock, so no one else holds this inode
  ::close(fd_);
}

}  // namespace moesim
