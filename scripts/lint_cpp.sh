#!/usr/bin/env bash
# Runs clang-tidy (settings in .clang-tidy) over every sim/**/*.cpp with BUILD_DIR's
# compile_commands.json, JOBS files at a time (default 2); any warning is an error. Exits 77
# (skipped, the cpp_lint test's SKIP_RETURN_CODE) when clang-tidy is not installed.
# Usage: scripts/lint_cpp.sh BUILD_DIR [JOBS]
set -euo pipefail
build=$(cd "${1:?usage: lint_cpp.sh BUILD_DIR [JOBS]}" && pwd)
jobs=${2:-2}
cd "$(dirname "$0")/.."
if ! command -v clang-tidy >/dev/null; then
  echo "cpp_lint: skipped: clang-tidy is not installed (Debian: apt-get install clang-tidy, or scripts/install-deps.sh)"
  exit 77
fi
if [ ! -f "$build/compile_commands.json" ]; then
  echo "cpp_lint: error: no $build/compile_commands.json (configure with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)" >&2
  exit 1
fi
files=$(find sim -name '*.cpp' | wc -l)
echo "cpp_lint: $(clang-tidy --version | grep -m1 -o 'version [0-9.]*') on $files files, $jobs at a time"
# xargs exits non-zero when any clang-tidy run does; --quiet drops the count of suppressed warnings
# and grep the "N warnings generated." lines (warnings of system headers, not shown).
set +e
find sim -name '*.cpp' -print0 | sort -z | xargs -0 -n 2 -P "$jobs" clang-tidy -p "$build" --quiet --warnings-as-errors='*' 2>&1 |
  grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$'
status=("${PIPESTATUS[@]}")
set -e
if [ "${status[2]}" -ne 0 ]; then
  echo "cpp_lint: clang-tidy found problems (above)" >&2
  exit 1
fi
echo "cpp_lint: no findings"
