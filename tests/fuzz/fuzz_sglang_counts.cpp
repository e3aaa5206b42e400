// Fuzzes the sglang_counts importer (sim/import/import_sglang_counts.cpp): SGLang logical_count JSON (2-D or per step 3-D).
#include "sim/import/importers.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = moesim::fuzz::write_input("sglang_counts.json", data, size);
  moesim::fuzz::expect_input_errors_only([&] {
    moesim::ImportOptions o;
    o.model = "m";
    moesim::import_sglang_counts(path, o);
  });
  return 0;
}
