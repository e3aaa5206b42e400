#!/usr/bin/env bash
# Builds the calibration benchmarks on this (GPU) machine, runs them, and writes
#   OUT/<gpu>.calibration.json   the table moesim loads (hw_profiles/<gpu>.calibration.json)
#   OUT/<gpu>.heldout.json       measurements left out of every fit (calibration/results/)
#   OUT/*.jsonl, OUT/provenance-*.json, OUT/log.txt   raw output
# Usage: bash calibration/run_calibration.sh --out DIR [--commit SHA] [--only PART]... [--deadline-s S]
#          [--grid PLAN] [--dtype bf16|fp8] [--missing-from TABLE]
#   PART: smoke | cuda (expert blocks through cuBLAS + ops + communication) | torch (torch._grouped_mm)
#   Default: cuda and torch. --commit names the project commit when the copy has no .git.
#   --grid: the plan of uniform points (default grid; grid-dense = only the points added later, to be
#   merged into an older table with assemble.py --base). --dtype: run only that dtype's jobs (the
#   ops and communication benchmarks then run only with bf16), to split a run into shorter ones.
#   --missing-from: run only the grid points TABLE lacks for each backend (plan_missing.py), to
#   complete an older table after the grid grew; merge with assemble.py --base TABLE.
# Reads the card's state with nvidia-smi; never changes clocks, power or any other setting.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
OUT="" COMMIT="" PARTS=() DEADLINE=540 GRID=grid DTYPE="" MISSING_FROM="" BUILD="${TMPDIR:-/tmp}/moesim-calibration-build"
CMDLINE="bash calibration/run_calibration.sh $*"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --commit) COMMIT="$2"; shift 2 ;;
    --only) PARTS+=("$2"); shift 2 ;;
    --deadline-s) DEADLINE="$2"; shift 2 ;;
    --build) BUILD="$2"; shift 2 ;;
    --grid) GRID="$2"; shift 2 ;;
    --dtype) DTYPE="$2"; shift 2 ;;
    --missing-from) MISSING_FROM="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "run_calibration.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n "$OUT" ]] || { echo "run_calibration.sh: --out DIR is required" >&2; exit 2; }
[[ ${#PARTS[@]} -gt 0 ]] || PARTS=(cuda torch)
[[ -f "$HERE/plans/$GRID.plan" ]] || { echo "run_calibration.sh: no plan calibration/plans/$GRID.plan" >&2; exit 2; }
case "$DTYPE" in ""|bf16|fp8) ;; *) echo "run_calibration.sh: --dtype must be bf16 or fp8" >&2; exit 2 ;; esac
source "$HERE/common.sh"

build() {
  local nccl_root
  nccl_root="$($PY -c 'import nvidia.nccl as n, os; print(list(n.__path__)[0])' 2>/dev/null || true)"
  log "building into $BUILD (NCCL_ROOT=${nccl_root:-none})"
  cmake -S "$HERE" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release ${nccl_root:+-DNCCL_ROOT=$nccl_root} >> "$OUT/log.txt" 2>&1
  cmake --build "$BUILD" -j 16 -- -k 0 >> "$OUT/log.txt" 2>&1 || log "some targets failed to build: see log.txt"
  if [[ -n "$nccl_root" ]]; then export LD_LIBRARY_PATH="$nccl_root/lib:${LD_LIBRARY_PATH:-}"; fi
}

plan_file() {  # $1 = plan name, $2 = backend -> path of the plan, filtered to --dtype and --missing-from
  local src="$HERE/plans/$1.plan" dst="$OUT/$1-$2${DTYPE:+-$DTYPE}.plan"
  if [[ -z "$DTYPE" && ( -z "$MISSING_FROM" || "$1" != "$GRID" ) ]]; then echo "$src"; return; fi
  if [[ -n "$MISSING_FROM" && "$1" == "$GRID" ]]; then
    $PY "$HERE/plan_missing.py" "$MISSING_FROM" "$2" "$src" > "$dst.tmp" 2>> "$OUT/log.txt"
  else
    cp "$src" "$dst.tmp"
  fi
  if [[ -n "$DTYPE" ]]; then grep -E "^#| $DTYPE " "$dst.tmp" > "$dst" || true; else mv "$dst.tmp" "$dst"; fi
  rm -f "$dst.tmp"
  echo "$dst"
}

run_cuda() {  # $1 = jsonl name, remaining: plans
  local name="$1"; shift
  for plan in "$@"; do
    log "cublas-grouped: $plan ($(left) s left)"
    "$BUILD/bench_expert_block" --selftest --plan "$(plan_file "$plan" cublas-grouped)" --deadline-s "$(( $(left) - 20 ))" >> "$OUT/$name.jsonl" 2>> "$OUT/log.txt"
  done
}

run_torch() {
  local name="$1"; shift
  for plan in "$@"; do
    log "torch-grouped-mm: $plan ($(left) s left)"
    PYTHONUNBUFFERED=1 $PY "$HERE/torch_grouped_mm.py" --selftest --plan "$(plan_file "$plan" torch-grouped-mm)" --deadline-s "$(( $(left) - 15 ))" >> "$OUT/$name.jsonl" 2>> "$OUT/log.txt"
  done
}

log "commit $COMMIT; parts: ${PARTS[*]}"
log "gpu: $(smi)"
build
for part in "${PARTS[@]}"; do
  BEFORE="$(smi)"
  case "$part" in
    smoke)
      run_cuda smoke-cublas smoke
      run_torch smoke-torch smoke
      "$BUILD/bench_comm" > "$OUT/smoke-comm.jsonl" 2>> "$OUT/log.txt"
      ;;
    cuda)
      if [[ "$DTYPE" != fp8 ]]; then
        "$BUILD/bench_ops" > "$OUT/ops.jsonl" 2>> "$OUT/log.txt"
        "$BUILD/bench_comm" > "$OUT/comm.jsonl" 2>> "$OUT/log.txt"
      fi
      run_cuda "cublas${DTYPE:+-$DTYPE}" "$GRID" skew heldout
      ;;
    torch)
      run_torch torch "$GRID" skew heldout
      ;;
    *) echo "run_calibration.sh: unknown part $part" >&2; exit 2 ;;
  esac
  provenance "$part" "$BEFORE"
done
if [[ " ${PARTS[*]} " != *" smoke "* ]]; then
  $PY "$HERE/assemble.py" --in "$OUT" --out "$OUT" 2>&1 | tee -a "$OUT/log.txt"
fi
log "done in $(( $(date +%s) - START )) s"
