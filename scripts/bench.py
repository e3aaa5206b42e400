#!/usr/bin/env python3
"""Benchmarks moesim's scenarios as whole processes and prints, per scenario, the median of N runs
of wall time, CPU time (user + system, from wait4) and peak RSS, the peak private (anonymous)
memory sampled from /proc every 10 ms (a memory-mapped trace's pages are file pages: in RSS, not
private), the machine it ran on and the ratio of each median against a saved baseline.

usage: scripts/bench.py [--runs N] [--only NAME ...] [--baseline FILE] [--save-baseline FILE]
                        [--json FILE] [--moesim PATH [--commit C]]

Scenarios (experiments/bench/ and experiments/bench-trace/):
  prefill-ep32   DeepSeek-V3 prefill, EP32 on 4 x 8 H800, 8,192 tokens/GPU, one core (taskset -c 0, --threads 1)
  prefill-ep32-2t  the same on two cores, --threads 2
  prefill-ep32-p8  the same with routing.planned_layers=8 (8 MoE layers planned, the others replay them)
  decode-ep320   DeepSeek-V3 decode, EP320 on 40 x 8 H800, one core
  decode-ep320-p4  the same with routing.planned_layers=4
  decode-ep320-2t  the same on two cores, --threads 2
  decode-ep320-p4-2t  routing.planned_layers=4 on two cores, --threads 2
  trace-1m       replay of a 1,048,576-token trace (written first by scripts/make_bench_trace.py), one core
  sweep-1000     the 1,000-point sweep, --jobs 2 (runs: at most 3)
Speed is measured here, never in tests: the medians depend on the machine and its load, both printed.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRACE = os.path.join("out", "bench", "trace-1m.npz")
DEFAULT_BASELINE = os.path.join("scripts", "bench_baseline.json")


def planned(n):
    """routing.planned_layers = n: n MoE layers planned, the others replaying them (an approximation)."""
    return ["--set", f"routing.planned_layers={n}"]


def scenarios(moesim, out):
    run = [moesim, "run"]
    return {
        "prefill-ep32": (["taskset", "-c", "0"] + run + ["experiments/bench/deepseek-v3-prefill-ep32.json", "--threads", "1"], out),
        "prefill-ep32-2t": (["taskset", "-c", "0,1"] + run + ["experiments/bench/deepseek-v3-prefill-ep32.json", "--threads", "2"], out),
        "prefill-ep32-p8": (["taskset", "-c", "0"] + run + ["experiments/bench/deepseek-v3-prefill-ep32.json", "--threads", "1"] + planned(8), out),
        "decode-ep320": (["taskset", "-c", "0"] + run + ["experiments/bench/deepseek-v3-decode-ep320.json", "--threads", "1"], out),
        "decode-ep320-p4": (["taskset", "-c", "0"] + run + ["experiments/bench/deepseek-v3-decode-ep320.json", "--threads", "1"] + planned(4), out),
        "decode-ep320-2t": (["taskset", "-c", "0,1"] + run + ["experiments/bench/deepseek-v3-decode-ep320.json", "--threads", "2"], out),
        "decode-ep320-p4-2t": (["taskset", "-c", "0,1"] + run + ["experiments/bench/deepseek-v3-decode-ep320.json", "--threads", "2"]
                               + planned(4), out),
        "trace-1m": (["taskset", "-c", "0"] + run + ["experiments/bench-trace/deepseek-v3-prefill-trace-1m.json", "--threads", "1"], out),
        "sweep-1000": ([moesim, "sweep", "experiments/bench/sweep-1000.json", "--jobs", "2"], out),
    }


def peak_private_kib(pid, stop, result):
    """Samples RssAnon of pid (and its threads: one process) every 10 ms until stop is set."""
    path = f"/proc/{pid}/status"
    while not stop.is_set():
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        result[0] = max(result[0], int(line.split()[1]))
        except OSError:
            return
        time.sleep(0.01)


def run_once(cmd, out_dir):
    """One whole-process run: (wall s, cpu s, peak RSS MiB, peak private MiB)."""
    shutil.rmtree(out_dir, ignore_errors=True)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd + ["--out", out_dir, "-q"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=peak_private_kib, args=(proc.pid, stop, peak))
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    stop.set()
    sampler.join()
    err = proc.stderr.read().decode(errors="replace").strip()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed with exit {proc.returncode}: {err.splitlines()[-1] if err else ''}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, peak[0] / 1024.0


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_gib, 1), "kernel": platform.release(),
            "date": time.strftime("%Y-%m-%d"), "commit": commit + ("+changes" if dirty else ""),
            "load_average_before": round(os.getloadavg()[0], 2)}


def ensure_trace():
    if os.path.exists(os.path.join(ROOT, TRACE)):
        return
    print(f"writing {TRACE} (about 1 GB; once) with scripts/make_bench_trace.py", file=sys.stderr)
    os.makedirs(os.path.dirname(os.path.join(ROOT, TRACE)), exist_ok=True)
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable  # Debian's, with numpy
    subprocess.run([python, "scripts/make_bench_trace.py", TRACE], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def ratio(value, base):
    return f"{value / base:.2f}x" if base else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per scenario (median; sweep-1000 at most 3)")
    ap.add_argument("--only", nargs="+", help="scenario names to run (default: all)")
    ap.add_argument("--baseline", help="saved medians to compare against (default: the repository's "
                    f"{DEFAULT_BASELINE}; paths are taken from the working directory)")
    ap.add_argument("--save-baseline", help="write these medians as a baseline file")
    ap.add_argument("--json", help="write the results as JSON")
    ap.add_argument("--moesim", default="build/moesim", help="the binary (default build/moesim)")
    ap.add_argument("--commit", help="the commit the binary was built from, when it is not this checkout's (for baselines)")
    args = ap.parse_args()
    if args.runs < 1:
        sys.exit("bench: --runs must be at least 1")
    # The binary as given from the working directory, else (the default) the repository's.
    moesim = next((p for p in [os.path.abspath(args.moesim), os.path.join(ROOT, args.moesim)] if os.path.isfile(p)), None)
    if moesim is None:
        hint = "; build first: cmake --build build -j2 --target moesim" if args.moesim == "build/moesim" else ""
        sys.exit(f"bench: {args.moesim} is not a file{hint}")
    tmp = tempfile.mkdtemp(prefix="moesim-bench-")
    table = scenarios(moesim, tmp)
    names = args.only or list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        sys.exit(f"bench: unknown scenario {unknown[0]}; expected one of {', '.join(table)}")
    base = {}
    baseline = os.path.join(ROOT, DEFAULT_BASELINE) if args.baseline is None else args.baseline
    if args.baseline is not None and not os.path.exists(baseline):
        sys.exit(f"bench: baseline {args.baseline} not found")
    if os.path.exists(baseline):
        try:
            with open(baseline) as f:
                base = json.load(f)
            if not isinstance(base, dict) or not {"machine", "scenarios"} <= base.keys():
                raise ValueError("expected an object with \"machine\" and \"scenarios\"")
        except (OSError, ValueError, KeyError, TypeError) as e:
            sys.exit(f"bench: baseline {baseline}: not a saved baseline ({e.__class__.__name__}: {e})")
    info = machine()
    if args.commit:
        info["commit"] = args.commit
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, Linux {info['kernel']}; "
          f"commit {info['commit']}, {info['date']}, load average {info['load_average_before']}")
    if base:
        bm = base["machine"]
        print(f"baseline: {args.baseline or DEFAULT_BASELINE} (commit {bm.get('commit')}, {bm.get('date')}, "
              f"{bm.get('cpu', 'unknown CPU')}, {bm.get('cores')} cores)")
        if (bm.get("cpu"), bm.get("cores")) != (info["cpu"], info["cores"]):
            print("warning: the baseline was measured on another machine: vs_base compares machines as well as builds; "
                  "measure the baseline's commit here (--moesim OLD --commit C --save-baseline FILE)")
    print(f"{'scenario':<19} {'runs':>4} {'wall_s':>8} {'cpu_s':>8} {'rss_MiB':>8} {'private_MiB':>11} {'vs_base':>8}")
    results = {}
    try:
        for name in names:
            if name == "trace-1m":
                ensure_trace()
            cmd, out = table[name]
            n = min(args.runs, 3) if name == "sweep-1000" else args.runs
            runs = [run_once(cmd, os.path.join(out, name)) for _ in range(n)]
            med = {k: round(statistics.median(r[i] for r in runs), 3)
                   for i, k in enumerate(["wall_s", "cpu_s", "peak_rss_mib", "peak_private_mib"])}
            med["runs"] = n
            results[name] = med
            b = base.get("scenarios", {}).get(name, {})
            print(f"{name:<19} {n:>4} {med['wall_s']:>8.3f} {med['cpu_s']:>8.3f} {med['peak_rss_mib']:>8.1f} "
                  f"{med['peak_private_mib']:>11.1f} {ratio(med['wall_s'], b.get('wall_s')):>8}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    info["load_average_after"] = round(os.getloadavg()[0], 2)
    doc = {"machine": info, "scenarios": results}
    for path in filter(None, [args.save_baseline, args.json]):
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
