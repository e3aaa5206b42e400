// Fuzzes the trtllm importer (sim/import/import_trtllm.cpp, safetensors_file.cpp): the input
// is rank0.safetensors of a folder whose meta_info.json says 8 experts, top-2.
#include <sys/stat.h>

#include "sim/import/importers.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string dir = moesim::fuzz::temp_path("trtllm");
  static const bool made = [&] {
    ::mkdir(dir.c_str(), 0700);
    const std::string meta = R"({"num_experts": 8, "num_experts_per_token": 2})";
    std::FILE* f = std::fopen((dir + "/meta_info.json").c_str(), "wb");
    if (!f) __builtin_trap();
    std::fwrite(meta.data(), 1, meta.size(), f);
    std::fclose(f);
    return true;
  }();
  (void)made;
  std::FILE* f = std::fopen((dir + "/rank0.safetensors").c_str(), "wb");
  if (!f) __builtin_trap();
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  moesim::fuzz::expect_input_errors_only([&] {
    moesim::ImportOptions o;
    o.model = "m";
    moesim::import_trtllm(dir, o);
  });
  return 0;
}
