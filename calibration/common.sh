# Shared setup of the device scripts (run_calibration.sh, run_multi_gpu.sh), sourced after their
# argument parsing with OUT, DEADLINE, COMMIT and ROOT set: makes OUT absolute, starts the clock,
# turns NVLink multicast off, names the commit, and defines left (seconds to the deadline) and
# log (a time-stamped line to stderr and OUT/log.txt).
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
START=$(date +%s)
left() { echo $(( DEADLINE - ($(date +%s) - START) )); }
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/log.txt" >&2; }
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
PY=python3
if [[ -z "$COMMIT" ]]; then
  COMMIT="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
  if [[ "$COMMIT" != unknown ]] && [[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ]]; then COMMIT="$COMMIT-dirty"; fi
fi
