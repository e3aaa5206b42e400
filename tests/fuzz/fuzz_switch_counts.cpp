// Fuzzes the switch_counts importer (sim/import/import_switch_counts.cpp): Switch per-layer expert usage JSON.
#include "sim/import/importers.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = moesim::fuzz::write_input("switch_counts.json", data, size);
  moesim::fuzz::expect_input_errors_only([&] {
    moesim::ImportOptions o;
    
    moesim::import_switch_counts(path, o);
  });
  return 0;
}
