#include "sim/io/input_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "sim/io/errors.h"

namespace moesim {

namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a plain file";
}

std::string size_text(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes >= (uint64_t{1} << 30)) return fmt::format("{:.1f} GiB", b / static_cast<double>(uint64_t{1} << 30));
  return fmt::format("{:.1f} MiB", b / static_cast<double>(uint64_t{1} << 20));
}

// stat(2) of `path` into `st`, and why it is not a readable regular file ("" when it is).
std::string stat_problem(const std::string& path, struct stat& st) {
  if (path.empty()) return "expected a file name";
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ELOOP) return "too many levels of symbolic links (a link loop?)";
    if (err == ENOENT) return "cannot open file: no such file";
    if (err == EACCES) return "cannot open file: permission denied";
    return std::string("cannot open file: ") + std::strerror(err);
  }
  if (S_ISDIR(st.st_mode)) return "is a folder, expected a file";
  if (!S_ISREG(st.st_mode)) return fmt::format("not a regular file ({})", kind_of(st.st_mode));
  return "";
}

}  // namespace

std::string input_file_problem(const std::string& path) {
  struct stat st {};
  return stat_problem(path, st);
}

uint64_t check_input_file(const std::string& path, uint64_t max_bytes, const char* what) {
  if (path.empty()) throw input_error("(empty path)", "", "expected a file name");
  struct stat st {};
  if (const std::string problem = stat_problem(path, st); !problem.empty()) throw input_error(path, "", problem);
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes)
    throw input_error(path, "", fmt::format("{}, more than the {} {} may have", size_text(size), size_text(max_bytes), what));
  return size;
}

std::string read_input_prefix(const std::string& path, uint64_t max_bytes, const char* what, size_t n) {
  check_input_file(path, max_bytes, what);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path, "", std::string("cannot open file: ") + std::strerror(errno));
  std::string head(n, '\0');
  in.read(head.data(), static_cast<std::streamsize>(n));
  head.resize(static_cast<size_t>(in.gcount()));
  return head;
}

std::string read_input_file(const std::string& path, uint64_t max_bytes, const char* what) {
  check_input_file(path, max_bytes, what);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path, "", std::string("cannot open file: ") + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw input_error(path, "", "read error");
  return ss.str();
}

}  // namespace moesim
