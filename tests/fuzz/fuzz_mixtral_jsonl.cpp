// Fuzzes the mixtral-jsonl importer (sim/import/import_mixtral_jsonl.cpp): per-(token, layer)
// JSONL; an odd-sized input is imported with --missing sample, an even-sized one with drop.
#include "sim/import/importers.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = moesim::fuzz::write_input("mixtral.jsonl", data, size);
  moesim::fuzz::expect_input_errors_only([&] {
    moesim::ImportOptions o;
    o.layers = {0, 1, 2, 3};
    o.missing = size % 2 ? "sample" : "drop";
    moesim::import_mixtral_jsonl(path, o);
  });
  return 0;
}
