#!/usr/bin/env bash
# Quick start, command 1: install what is needed, build, run the default experiment and plot it.
# Output: out/default/report.json, out/default/timeline.json and out/default/plots/*.png|svg.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# Debian's interpreter has the packages install-deps.sh installs (numpy, matplotlib), whatever
# python3 comes first on PATH.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target moesim
./build/moesim run experiments/default.json --out out/default --timeline
"$PY" plots/moesim_plots.py report out/default/report.json --out out/default/plots
echo
echo "Report:   out/default/report.json  (timeline: out/default/timeline.json, open in ui.perfetto.dev)"
echo "Plots:    out/default/plots/"
"$PY" - <<'PY'
import json
r = json.load(open("out/default/report.json"))
e = r["experiment"]
print(f"{e['name']}: {e['model']['name']} on {e['cluster']['nodes']}x{e['cluster']['devices_per_node']} {e['hardware']['name']}, "
      f"EP{e['parallel']['expert_parallel']} {e['workload']['phase']}")
print(f"step time {r['step_time_us']/1000:.2f} ms, {r['tokens_per_s']:.0f} tokens/s "
      f"({r['tokens_per_s_per_device']:.0f} per device); exposed communication {r['breakdown_us']['exposed_comm']/1000:.2f} ms; "
      f"HBM max {r['hbm']['max_device_total_bytes']/2**30:.1f} GiB of {r['hbm']['usable_bytes']/2**30:.1f} GiB usable "
      f"({'fits' if r['hbm']['fits'] else 'DOES NOT FIT'})")
PY
