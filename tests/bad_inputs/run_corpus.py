#!/usr/bin/env python3
"""Runs moesim over the bad-input corpus in this folder (Python 3 standard library only).

    python3 tests/bad_inputs/run_corpus.py build/moesim

Each case of cases.json ({"name", "command": "run"|"validate"|"sweep", "file", "expect"}) runs in
a fresh temporary folder (its working directory, and for "run" and "sweep" the parent of --out).
Optional keys: "args" (more arguments, e.g. ["--set", "moe.capacity_factor=1e999"]; a lone
surrogate such as "\udcff" becomes that raw byte), "setup" (made in the folder first: {"fifo":
NAME}, {"symlink": NAME, "to": TARGET}, {"write": NAME, "json": VALUE}), "file" starting with
"@" (a file of the folder, not of this one), and "valid": true (a valid input that must run:
exit 0, report written, no sanitizer report). A bad case passes when moesim
  - exits with code 2 (an input error: no crash, no signal, no internal error),
  - writes exactly one non-empty line to stderr, starting "moesim: error: " and containing
    "expect",
  - prints no sanitizer report (AddressSanitizer, LeakSanitizer, UBSan "runtime error") and
    no "terminate called",
  - leaves no file behind in the temporary folder.
Then the control, good_trace_experiment.json, must run, exit 0 and write report.json.
Prints one line per case and a last line "N passed, M failed"; exits 1 if any failed.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CONTROL = {"name": "good_trace_control", "command": "run", "file": "good_trace_experiment.json"}
TIMEOUT_S = 120
PREFIX = "moesim: error: "
FORBIDDEN = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error", "terminate called")


def leftovers(folder, made=()):
    found = []
    for root, _dirs, files in os.walk(folder):
        found += [os.path.relpath(os.path.join(root, f), folder) for f in files]
    return sorted(f for f in found if f not in made)


def setup(case, workdir):
    """Makes the case's "setup" entries in workdir; returns their names."""
    made = []
    for entry in case.get("setup", []):
        if "fifo" in entry:
            os.mkfifo(os.path.join(workdir, entry["fifo"]))
            made.append(entry["fifo"])
        elif "symlink" in entry:
            os.symlink(entry["to"], os.path.join(workdir, entry["symlink"]))
            made.append(entry["symlink"])
        elif "write" in entry:
            with open(os.path.join(workdir, entry["write"]), "w") as f:
                json.dump(entry["json"], f)
            made.append(entry["write"])
        else:
            raise ValueError("unknown setup entry %r" % entry)
    return made


def execute(binary, case, workdir):
    """Runs one case in workdir; returns (returncode or None on timeout, stdout, stderr, out_dir)."""
    path = os.path.join(workdir, case["file"][1:]) if case["file"].startswith("@") else os.path.join(HERE, case["file"])
    out_dir = os.path.join(workdir, "out")
    if case["command"] in ("run", "sweep"):
        argv = [binary, case["command"], path, "--out", out_dir]
    elif case["command"] == "validate":
        argv = [binary, "validate", path]
    else:
        raise ValueError("unknown command %r" % case["command"])
    argv += [os.fsencode(a) for a in case.get("args", [])]
    env = dict(os.environ)
    # Sanitizer reports go to stderr and abort on the first one, so they cannot hide.
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    try:
        p = subprocess.run(argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        return None, e.stdout or b"", e.stderr or b"", out_dir
    return p.returncode, p.stdout, p.stderr, out_dir


def check_bad(binary, case):
    """Returns a list of problems (empty when the case passed) and the stderr text."""
    with tempfile.TemporaryDirectory(prefix="moesim-bad-") as workdir:
        made = setup(case, workdir)
        rc, _out, err_bytes, _ = execute(binary, case, workdir)
        err = err_bytes.decode("utf-8", errors="replace")
        problems = []
        if rc is None:
            problems.append("timed out after %d s" % TIMEOUT_S)
        elif rc < 0:
            problems.append("killed by signal %d" % -rc)
        elif rc >= 128:
            problems.append("exit code %d (crash?)" % rc)
        elif rc == 0:
            problems.append("exit code 0 (accepted a bad input)")
        elif rc != 2:
            problems.append("exit code %d, expected 2 (an input error)" % rc)
        lines = err.splitlines()
        if len(lines) != 1 or not lines[0].strip():
            problems.append("stderr has %d lines, expected exactly one" % len(lines))
        if not lines or not lines[0].startswith(PREFIX):
            problems.append("stderr does not start with %r" % PREFIX)
        if case["expect"] not in err:
            problems.append("stderr lacks %r" % case["expect"])
        for word in FORBIDDEN:
            if word in err:
                problems.append("stderr contains %r" % word)
        left = leftovers(workdir, made)
        if left:
            problems.append("left files behind: %s" % ", ".join(left))
        return problems, err


def check_control(binary, case=CONTROL):
    with tempfile.TemporaryDirectory(prefix="moesim-good-") as workdir:
        setup(case, workdir)
        rc, _out, err_bytes, out_dir = execute(binary, case, workdir)
        err = err_bytes.decode("utf-8", errors="replace")
        problems = []
        if rc != 0:
            problems.append("exit code %s, expected 0" % rc)
        report = os.path.join(out_dir, "report.json")
        if not os.path.isfile(report):
            problems.append("no report.json written")
        else:
            try:
                with open(report) as f:
                    json.load(f)
            except ValueError as e:
                problems.append("report.json is not JSON: %s" % e)
        for word in FORBIDDEN:
            if word in err:
                problems.append("stderr contains %r" % word)
        return problems, err


def one_line(text, limit=400):
    text = " | ".join(l for l in text.splitlines() if l.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def main():
    if len(sys.argv) != 2:
        print("usage: run_corpus.py PATH/TO/moesim", file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    if not os.access(binary, os.X_OK):
        print("run_corpus.py: %s is not an executable" % binary, file=sys.stderr)
        return 2
    with open(os.path.join(HERE, "cases.json")) as f:
        cases = json.load(f)
    names = [c["name"] for c in cases]
    if len(set(names)) != len(names):
        print("run_corpus.py: duplicate case names in cases.json", file=sys.stderr)
        return 2

    passed = failed = 0
    for case in cases:
        problems, err = check_control(binary, case) if case.get("valid") else check_bad(binary, case)
        if problems:
            failed += 1
            print("FAIL %s (%s %s): %s; stderr: %s" % (case["name"], case["command"], case["file"], "; ".join(problems), one_line(err)))
        else:
            passed += 1
            print("ok   %s" % case["name"])
    problems, err = check_control(binary)
    if problems:
        failed += 1
        print("FAIL %s (%s %s): %s; stderr: %s" % (CONTROL["name"], CONTROL["command"], CONTROL["file"], "; ".join(problems), one_line(err)))
    else:
        passed += 1
        print("ok   %s" % CONTROL["name"])
    sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
