#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, and run the whole test suite (ctest):
# unit tests, goldens, the bad-input corpus (also under AddressSanitizer + UBSan), plots and the
# report schema. Tests that need ../shared/traces skip with a message when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The bad-input corpus also runs against a sanitizer build of the CLI.
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMOESIM_SANITIZE=ON -DMOESIM_TESTS=OFF >/dev/null
cmake --build build-asan -j2 --target moesim
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOESIM_ASAN_BINARY="$PWD/build-asan/moesim" >/dev/null
cmake --build build -j2
cd build && ctest --output-on-failure -j2
