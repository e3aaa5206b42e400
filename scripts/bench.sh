#!/usr/bin/env bash
# Benchmarks the big scenarios: runs each experiments/bench/*.json N times (default 5) on one core
# (taskset -c 0, --threads 1) and N times with --threads 2 on two cores, and prints the median wall
# time, events per second and peak RSS, as measured by `moesim run --stats`.
# usage: scripts/bench.sh [N]   (build first: cmake --build build -j2 --target moesim)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf "%-34s %8s %10s %12s %10s %6s\n" scenario threads wall_s events/s peak_MiB runs
for exp in experiments/bench/*.json; do
  name=$(basename "$exp" .json)
  for threads in 1 2; do
    cpus=0; [[ $threads -gt 1 ]] && cpus=0,1
    for i in $(seq "$n"); do
      taskset -c $cpus ./build/moesim run "$exp" --out "$out/$name" --threads $threads --stats -q 2>>"$out/$name.$threads.stats"
    done
    python3 - "$out/$name.$threads.stats" "$name" "$n" "$threads" <<'PY'
import statistics, sys
rows = [dict(kv.split("=") for kv in line.split()) for line in open(sys.argv[1]) if line.startswith("wall_s=")]
med = lambda k: statistics.median(float(r[k]) for r in rows)
print(f"{sys.argv[2]:<34} {sys.argv[4]:>8} {med('wall_s'):>10.3f} {med('events_per_s'):>12.0f} {med('peak_rss_mib'):>10.1f} {sys.argv[3]:>6}")
PY
  done
done
