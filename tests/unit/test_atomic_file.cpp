// Files written whole or not at all (sim/io/atomic_file.h), no temporaries left by killed writers, and
// JSON files parsed again only when they change (sim/io/json_reader.h).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "sim/io/atomic_file.h"
#include "sim/io/json_reader.h"

using namespace moesim;
namespace fs = std::filesystem;

TEST_CASE("an atomic write replaces the file and removes the temporaries of writers that are gone", "[quick][io]") {
  const fs::path dir = fs::temp_directory_path() / ("moesim-atomic-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string report = (dir / "report.json").string();
  // A writer killed mid-write left report.json.tmp.<pid> with a pid no process has; another
  // file's temporary and a live process's temporary (this one's parent) are left alone.
  std::ofstream(report + ".tmp.999999999") << "partial";
  std::ofstream((dir / "summary.json.tmp.999999999").string()) << "other file";
  const std::string live = report + ".tmp." + std::to_string(::getppid());
  std::ofstream(live) << "being written";
  write_file_atomically(report, "{}\n");
  std::ifstream in(report);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == "{}\n");
  CHECK_FALSE(fs::exists(report + ".tmp.999999999"));
  CHECK(fs::exists(dir / "summary.json.tmp.999999999"));
  CHECK(fs::exists(live));
  fs::remove_all(dir);
}

TEST_CASE("a JSON file read again is parsed again only when it changed", "[quick][io]") {
  const fs::path dir = fs::temp_directory_path() / ("moesim-reread-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "x.json").string();
  write_file_atomically(path, R"({"a": 1})");
  const auto first = JsonDocument::load_file(path);
  CHECK(&JsonDocument::load_file(path).json() == &first.json());  // the same document, not parsed again
  write_file_atomically(path, R"({"a": 22})");                     // another size (and time)
  CHECK(JsonDocument::load_file(path).json().at("a") == 22);
  fs::remove_all(dir);
}
