// Atomic output: write to a temporary file beside the target, then rename, so that a failed
// run never leaves a partial file behind.
#pragma once
#include <string>

namespace moesim {

void write_file_atomically(const std::string& path, const std::string& contents);

}  // namespace moesim
