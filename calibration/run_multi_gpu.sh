#!/usr/bin/env bash
# One command for a GPU machine (1 to 8 GPUs of one host): the whole-MoE-layer measurement and the
# communication benchmarks, everything written into --out DIR:
#   DIR/moe_layer-<model>-t<T>-w<N>.json   calibration/moe_layer_bench.py under torchrun, one rank a GPU
#                                          (commit these to calibration/results/moe_layer/)
#   DIR/comm.jsonl                         bench_comm: p2p copies + NCCL all-to-all(v) (needs >= 2 GPUs;
#                                          with 1 it prints comm_skipped and exits 0)
#   DIR/profile/<gpu>.calibration.json    the committed calibration table of this GPU with the measured
#                                          communication added (copy to hw_profiles/; needs >= 2 GPUs)
#   DIR/gpu.txt, DIR/log.txt               nvidia-smi state and topology; the log
# Usage: bash calibration/run_multi_gpu.sh --out DIR [--commit SHA] [--nproc N] [--deadline-s S]
#            [--skip-comm] [--skip-layer] [--build DIR] [-- ARGS for moe_layer_bench.py]
# NVLink multicast stays off (NCCL_NVLS_ENABLE=0, TORCH_SYMM_MEM_DISABLE_MULTICAST=1,
# NVSHMEM_DISABLE_NVLS=1). Reads the cards with nvidia-smi; changes no setting.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
CMDLINE="bash calibration/run_multi_gpu.sh $*"
OUT="" COMMIT="" NPROC="" DEADLINE=540 SKIP_COMM=0 SKIP_LAYER=0 BUILD="${TMPDIR:-/tmp}/moesim-calibration-build" EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --commit) COMMIT="$2"; shift 2 ;;
    --nproc) NPROC="$2"; shift 2 ;;
    --deadline-s) DEADLINE="$2"; shift 2 ;;
    --skip-comm) SKIP_COMM=1; shift ;;
    --skip-layer) SKIP_LAYER=1; shift ;;
    --build) BUILD="$2"; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "run_multi_gpu.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n "$OUT" ]] || { echo "run_multi_gpu.sh: --out DIR is required" >&2; exit 2; }
source "$HERE/common.sh"
[[ -n "$NPROC" ]] || NPROC="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)"
[[ "$NPROC" -ge 1 ]] 2>/dev/null || { log "no GPU found (nvidia-smi -L)"; exit 2; }
log "commit $COMMIT; $NPROC GPU(s); deadline $DEADLINE s"
{ nvidia-smi --query-gpu=index,name,pci.bus_id,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw,power.limit,clocks_event_reasons.active --format=csv
  echo; nvidia-smi topo -m; } > "$OUT/gpu.txt" 2>&1 || true

# bench_comm: the same cmake invocation as run_calibration.sh's build(), this one target only.
COMM_OK=0
if [[ $SKIP_COMM -eq 0 ]]; then
  NCCL_ROOT_DIR="$($PY -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null || true)"
  log "building bench_comm into $BUILD (NCCL_ROOT=${NCCL_ROOT_DIR:-none})"
  if cmake -S "$HERE" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release ${NCCL_ROOT_DIR:+-DNCCL_ROOT=$NCCL_ROOT_DIR} >> "$OUT/log.txt" 2>&1 &&
     cmake --build "$BUILD" -j 16 --target bench_comm >> "$OUT/log.txt" 2>&1; then
    COMM_OK=1
  else
    log "bench_comm failed to build: see log.txt; going on with the layer measurement"
  fi
  if [[ -n "$NCCL_ROOT_DIR" ]]; then export LD_LIBRARY_PATH="$NCCL_ROOT_DIR/lib:${LD_LIBRARY_PATH:-}"; fi
fi

LAYER_RC=0
if [[ $SKIP_LAYER -eq 0 ]]; then
  budget=$(( $(left) - 60 ))   # keep a minute for bench_comm and the last case's overrun
  [[ $budget -gt 30 ]] || budget=30
  log "moe_layer_bench.py on $NPROC GPU(s) (torchrun, NCCL), deadline $budget s"
  # A hung collective must not eat the whole call: the bench is killed 120 s after its own deadline.
  PYTHONUNBUFFERED=1 timeout $(( budget + 120 )) $PY -m torch.distributed.run --standalone --nproc_per_node "$NPROC" \
      "$HERE/moe_layer_bench.py" --out "$OUT" --commit "$COMMIT" --deadline-s "$budget" "${EXTRA[@]}" 2>&1 \
      | tee -a "$OUT/log.txt" >&2 || LAYER_RC=$?
  [[ $LAYER_RC -eq 0 ]] || log "moe_layer_bench.py failed (exit $LAYER_RC)"
fi

if [[ $COMM_OK -eq 1 ]]; then
  t=$(left); [[ $t -gt 10 ]] || t=10
  log "bench_comm ($t s left)"
  rc=0
  BEFORE="$(smi)"
  timeout "$t" "$BUILD/bench_comm" --skew "$HERE/plans/a2a_skew.txt" > "$OUT/comm.jsonl" 2>> "$OUT/log.txt" || rc=$?
  if [[ $rc -eq 124 ]]; then log "bench_comm stopped at the deadline: comm.jsonl is truncated"; elif [[ $rc -ne 0 ]]; then log "bench_comm exited $rc"; fi
  head -c 2000 "$OUT/comm.jsonl" | grep -q comm_skipped && log "bench_comm: $(grep -o '"reason":"[^"]*"' "$OUT/comm.jsonl" | head -1)"
  # The measured communication tables into this GPU's profile: added to the committed
  # calibration table (assemble.py --base) as DIR/profile/<gpu>.calibration.json.
  if grep -q '"kind":"p2p"' "$OUT/comm.jsonl"; then
    provenance comm "$BEFORE"
    gpu="$($PY "$HERE/assemble.py" --profile-name "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)")"
    base=(); [[ -f "$ROOT/hw_profiles/$gpu.calibration.json" ]] && base=(--base "$ROOT/hw_profiles/$gpu.calibration.json")
    [[ -f "$ROOT/calibration/results/$gpu.heldout.json" && ${#base[@]} -gt 0 ]] && base+=(--base-heldout "$ROOT/calibration/results/$gpu.heldout.json")
    mkdir -p "$OUT/comm-only"
    cp "$OUT/comm.jsonl" "$OUT/provenance-comm.json" "$OUT/comm-only/"
    $PY "$HERE/assemble.py" --in "$OUT/comm-only" "${base[@]}" --out "$OUT/profile" 2>&1 | tee -a "$OUT/log.txt" >&2 ||
      log "assemble.py failed: the raw tables are in comm.jsonl"
  fi
fi
ls "$OUT"/moe_layer-*.json >/dev/null 2>&1 && log "layer files: $(cd "$OUT" && ls moe_layer-*.json | tr '\n' ' ')"
log "done in $(( $(date +%s) - START )) s"
exit $LAYER_RC
