# Shared setup of the device scripts (run_calibration.sh, run_multi_gpu.sh), sourced after their
# argument parsing with OUT, DEADLINE, COMMIT and ROOT set: makes OUT absolute, starts the clock,
# turns NVLink multicast off, names the commit, and defines left (seconds to the deadline) and
# log (a time-stamped line to stderr and OUT/log.txt); smi prints the card's state as JSON and
# provenance PART BEFORE writes OUT/provenance-PART.json (what assemble.py records) for CMDLINE.
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

smi() {  # one JSON object with the card's state now
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,clocks.max.sm,clocks.max.mem,temperature.gpu,power.draw,power.limit,memory.total,pstate,clocks_event_reasons.active \
    --format=csv,noheader,nounits | head -1 | $PY -c '
import sys, json
keys = ["name","driver","sm_clock_mhz","mem_clock_mhz","max_sm_clock_mhz","max_mem_clock_mhz","temperature_c","power_w","power_limit_w","memory_total_mib","pstate","clock_event_reasons"]
vals = [v.strip() for v in sys.stdin.read().split(",")]
print(json.dumps(dict(zip(keys, vals))))'
}

provenance() {  # $1 = part name, $2 = before-json
  local after; after="$(smi)"
  $PY - "$1" "$2" "$after" "$COMMIT" "$CMDLINE" > "$OUT/provenance-$1.json" <<'PYEOF'
import json, subprocess, sys, datetime, re
part, before, after, commit, cmd = sys.argv[1:]
def out(c):
    try:
        return subprocess.run(c, shell=True, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception as e:
        return f"unavailable: {e}"
nvcc = out("nvcc --version | tail -2 | head -1")
torch_v = out("python3 -c 'import torch; print(torch.__version__, torch.version.cuda)'")
cublas = out("grep -h -E '#define CUBLAS_VER_(MAJOR|MINOR|PATCH) ' $(dirname $(dirname $(which nvcc)))/include/cublas_api.h | awk '{print $3}' | paste -sd.")
print(json.dumps({"part": part, "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "git_commit": commit, "command": cmd, "nvcc": nvcc, "cublas_headers": cublas, "torch": torch_v,
                  "gpu_before": json.loads(before), "gpu_after": json.loads(after),
                  "nvidia_smi_clocks": out("nvidia-smi -q -d CLOCK | grep -v '^$' | head -40")}, indent=1))
PYEOF
}
