#!/usr/bin/env bash
# Mixtral-8x7B on its real per-token trace: EP8 vs EP4 x expert-TP2 on one H100 node.
# Imports ../shared/traces/mixtral-8x7b-token-routing/gsm8k_2_routing.jsonl (not copied into the
# repository: the imported trace goes to out/traces/) and prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out/traces
./build/moesim trace import --from mixtral-jsonl ../shared/traces/mixtral-8x7b-token-routing/gsm8k_2_routing.jsonl out/traces/mixtral-gsm8k.npz
python3 scripts/study_table.py experiments/studies/mixtral-ep8-trace.json \
  --metric "GPU load max/mean=expert_load.device_load_max_over_mean" --metric "expert ms=breakdown_us.expert_compute" \
  --metric "step ms=step_time_us" --metric "a2a intra GiB=all_to_all.bytes_intra_node" --metric "max HBM GiB=hbm.max_device_total_bytes" \
  --variant "EP8|parallel.expert_parallel=8" \
  --variant "EP4 x TP2|parallel.expert_parallel=4,parallel.expert_tensor_parallel=2"
