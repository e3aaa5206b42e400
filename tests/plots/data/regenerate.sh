#!/bin/sh
# Regenerates the small moesim outputs that tests/plots/test_plots.py plots.
# Run from anywhere after building moesim (cmake --build build); commit the results.
#   ep8_small/     16-layer DeepSeek-V3 (3 dense + 13 MoE) on one node of 8 H800, EP8,
#                  256 tokens/device: report.json + timeline.json
#   ep8_capacity/  the same with moe.capacity_factor=1.0 (drops): report.json
#   ep8_overflow/  full 61-layer DeepSeek-V3 on the same 8 GPUs: does not fit in HBM: report.json
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
moesim=${MOESIM:-$root/build/moesim}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$root" "$tmp" <<'PY'
import json, sys
root, tmp = sys.argv[1:]
exp = json.load(open(f"{root}/experiments/default.json"))
model = json.load(open(f"{root}/models/deepseek-v3.json"))
model.update(name="deepseek-v3-16l", num_layers=16,
             description="DeepSeek-V3 cut to 16 layers (3 dense + 13 MoE): a small plot-test input.")
json.dump(dict(exp, model=model, description="plot-test input: 16-layer DeepSeek-V3, EP8"),
          open(f"{tmp}/small16.json", "w"), indent=1)
json.dump(dict(exp, description="plot-test input: 61-layer DeepSeek-V3 on 8 GPUs (does not fit)"),
          open(f"{tmp}/full61.json", "w"), indent=1)
PY

small="--set workload.tokens_per_device=256 --set cluster.nodes=1 --set parallel.expert_parallel=8"
rm -rf "$here/ep8_small" "$here/ep8_capacity" "$here/ep8_overflow"
"$moesim" run "$tmp/small16.json" --out "$here/ep8_small" $small --set name=small-ep8 --timeline -q
"$moesim" run "$tmp/small16.json" --out "$here/ep8_capacity" $small --set name=small-ep8-cf1.0 \
    --set moe.capacity_factor=1.0 -q
"$moesim" run "$tmp/full61.json" --out "$here/ep8_overflow" $small --set name=full-ep8-overflow -q
ls -l "$here"/ep8_*/
