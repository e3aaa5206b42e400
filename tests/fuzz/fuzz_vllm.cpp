// Fuzzes the vllm importer (sim/import/import_vllm.cpp, npy_file.cpp): routed experts as a
// .npy array or as JSON {"routed_experts": ...}, told apart by the .npy magic, 16 experts.
#include "sim/import/importers.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = moesim::fuzz::write_input("routed_experts", data, size);
  moesim::fuzz::expect_input_errors_only([&] {
    moesim::ImportOptions o;
    o.model = "m";
    o.experts = 16;
    moesim::import_vllm(path, o);
  });
  return 0;
}
