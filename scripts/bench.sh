#!/usr/bin/env bash
# Benchmarks the scenarios: scripts/bench.py with N runs each (default 5); see its --help.
# usage: scripts/bench.sh [N] [bench.py options]   (build first: cmake --build build -j2 --target moesim)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5}
shift || true
exec /usr/bin/env python3 scripts/bench.py --runs "$n" "$@"
