#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, and run the whole test suite (ctest):
# unit tests, goldens, the bad-input corpus (also under AddressSanitizer + UBSan), the fuzz targets
# for a few seconds each, plots and the report schema. Tests that need ../shared/traces skip with
# a message when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The bad-input corpus also runs against a sanitizer build of the CLI. It compiles in under a
# third of the time of a plain Debug build, with the same instrumentation and assertions:
#  - unity build, one translation unit per layer (batch size 0), so the big headers (Boost, fmt,
#    nlohmann/json) are parsed once per layer instead of once per file; CMakeLists.txt lists the
#    files that keep their own translation unit;
#  - -g1 instead of -g: line tables and function names only, which is what the sanitizer reports'
#    stack traces use (function, file, line); no debugger information on variables and types.
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMOESIM_SANITIZE=ON -DMOESIM_TESTS=OFF \
  -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=0 -DCMAKE_CXX_FLAGS_DEBUG=-g1 >/dev/null
cmake --build build-asan -j2 --target moesim
# The fuzz targets (tests/fuzz, clang + libFuzzer), unity-built the same way; the fuzz_smoke test
# runs each for a few seconds from its seeds (scripts/fuzz_smoke.sh).
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DMOESIM_FUZZ=ON -DMOESIM_TESTS=OFF \
  -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=0 -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g1 -O1" >/dev/null
cmake --build build-fuzz -j2 --target fuzz_targets
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOESIM_ASAN_BINARY="$PWD/build-asan/moesim" \
  -DMOESIM_FUZZ_BUILD="$PWD/build-fuzz" >/dev/null
cmake --build build -j2
cd build && ctest --output-on-failure -j2
