// The one way moesim opens a file it reads: a regular file (not a folder, FIFO, device or socket,
// which would hang or never end), reached without a symbolic-link loop, readable, and no larger
// than the reader's cap. Every failure is an InputError naming the file: "FILE: not a regular file
// (a FIFO)", "FILE: too many levels of symbolic links", "FILE: 5.1 GB, more than the 256 MiB a
// JSON file may have".
#pragma once
#include <cstdint>
#include <string>

namespace moesim {

inline constexpr uint64_t kMaxJsonFileBytes = uint64_t{256} << 20;     // configs, models, profiles, counts
inline constexpr uint64_t kMaxTextFileBytes = uint64_t{16} << 30;      // JSONL / CSV traces (streamed)
inline constexpr uint64_t kMaxBinaryFileBytes = uint64_t{1} << 40;     // .npz / .npy / safetensors (memory-mapped)

// The file's size in bytes after the checks above; `what` names the cap in the message ("a JSON file").
uint64_t check_input_file(const std::string& path, uint64_t max_bytes, const char* what);
// Why `path` cannot be read as a regular file ("is a folder, expected a file", a link loop, a
// FIFO, missing, no permission), or "" when it can.
std::string input_file_problem(const std::string& path);

// The file's first `n` bytes or fewer (check_input_file first): to tell formats apart without
// reading a file whole.
std::string read_input_prefix(const std::string& path, uint64_t max_bytes, const char* what, size_t n);

// The whole file (check_input_file first).
std::string read_input_file(const std::string& path, uint64_t max_bytes, const char* what);

}  // namespace moesim
