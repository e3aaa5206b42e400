#!/usr/bin/env bash
# Runs clang-tidy (settings in .clang-tidy) over every sim/**/*.cpp, JOBS translation units at a
# time (default 2); any warning is an error. Exits 77 (skipped, the cpp_lint test's
# SKIP_RETURN_CODE) when clang-tidy is not installed.
#
# The files are linted as the unity build compiles them (one translation unit per layer, plus the
# files CMakeLists.txt keeps on their own): a compile database for that build is configured (not
# built) in BUILD_DIR/lint-unity. Parsing Boost, fmt and nlohmann/json once per layer instead of once
# per file takes the lint from about 9 minutes to under 2 on two cores. The sources included by a
# unity file are checked like headers, so the header filter also admits sim/**/*.cpp, and
# bugprone-suspicious-include (which flags the unity file's own #include "x.cpp") is off for it.
# Usage: scripts/lint_cpp.sh BUILD_DIR [JOBS]
set -euo pipefail
build=$(cd "${1:?usage: lint_cpp.sh BUILD_DIR [JOBS]}" && pwd)
jobs=${2:-2}
cd "$(dirname "$0")/.."
if ! command -v clang-tidy >/dev/null; then
  echo "cpp_lint: skipped: clang-tidy is not installed (Debian: apt-get install clang-tidy, or scripts/install-deps.sh)"
  exit 77
fi
unity="$build/lint-unity"
cmake -S . -B "$unity" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOESIM_TESTS=OFF \
  -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=0 >/dev/null
units=$(python3 -c 'import json, sys; print("\n".join(e["file"] for e in json.load(open(sys.argv[1]))))' \
  "$unity/compile_commands.json")
sources=$(find sim -name '*.cpp' | wc -l)
echo "cpp_lint: $(clang-tidy --version | grep -m1 -o 'version [0-9.]*') on $sources files in $(echo "$units" | wc -l) translation units, $jobs at a time"
# xargs exits non-zero when any clang-tidy run does; --quiet drops the count of suppressed warnings
# and grep the "N warnings generated." lines (warnings of system headers, not shown).
set +e
echo "$units" | tr '\n' '\0' | xargs -0 -n 1 -P "$jobs" clang-tidy -p "$unity" --quiet --warnings-as-errors='*' \
  --checks='-bugprone-suspicious-include' --header-filter='(^|/)sim/[a-z_]+/[^/]+\.(h|cpp)$' 2>&1 |
  grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$'
status=("${PIPESTATUS[@]}")
set -e
if [ "${status[2]}" -ne 0 ]; then
  echo "cpp_lint: clang-tidy found problems (above)" >&2
  exit 1
fi
echo "cpp_lint: no findings"
