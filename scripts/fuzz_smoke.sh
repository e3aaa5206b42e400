#!/usr/bin/env bash
# Runs every fuzz target of a fuzz build (tests/fuzz/CMakeLists.txt) for SECONDS each (default 10):
# first the inputs that once crashed a reader (tests/fuzz/crashes/<reader>-*) one by one, then
# libFuzzer from the target's seeds (tests/fuzz/corpus/<reader>/, copied: the repository is not
# written). Any crash, sanitizer report, leak, timeout (10 s per input) or more than 2 GiB of memory
# fails it, with libFuzzer's report (which holds the input, base64) above. The fuzz_smoke test runs
# it; the seed of each run is fixed (-seed=1), so a failure repeats.
# Usage: scripts/fuzz_smoke.sh FUZZ_BUILD_DIR [SECONDS]
set -euo pipefail
bin=$(cd "${1:?usage: fuzz_smoke.sh FUZZ_BUILD_DIR [SECONDS]}" && pwd)/fuzz
seconds=${2:-10}
cd "$(dirname "$0")/.."
shopt -s nullglob
targets=("$bin"/fuzz_*)
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz_smoke: error: no fuzz targets in $bin (build them: cmake --build FUZZ_BUILD_DIR --target fuzz_targets)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in "${targets[@]}"; do
  reader=${target##*/fuzz_}
  crashes=(tests/fuzz/crashes/"$reader"-*)
  if [ ${#crashes[@]} -gt 0 ]; then
    "$target" -rss_limit_mb=2048 -timeout=10 "${crashes[@]}" >"$work/log" 2>&1 ||
      { cat "$work/log"; echo "fuzz_smoke: $reader: a saved crash input fails again" >&2; exit 1; }
  fi
  mkdir -p "$work/$reader"
  cp tests/fuzz/corpus/"$reader"/* "$work/$reader/"
  if ! "$target" "$work/$reader" -seed=1 -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -artifact_prefix="$work/$reader-" >"$work/log" 2>&1; then
    cat "$work/log"
    echo "fuzz_smoke: $reader: libFuzzer found a failing input (above)" >&2
    exit 1
  fi
  runs=$(grep -o -E 'Done [0-9]+ runs' "$work/log" | grep -o -E '[0-9]+' || echo "?")
  echo "fuzz_smoke: $reader: ${#crashes[@]} saved crash inputs pass; $runs runs in ${seconds} s from the seeds, no finding"
done
