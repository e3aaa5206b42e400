#!/usr/bin/env python3
"""Fails when a Catch2 test case of the given test binary carries neither [quick] nor [slow], or
both, or has a name with ';', '[' or ']' (catch_discover_tests splits such a name into ctest
tests that match no case, so the case never runs under ctest). Parses `--list-tests` (Catch2 v2
prints each name indented by 2, its wrapped continuation lines by 4 and its tags by 6) and checks
the count against `--list-test-names-only`.

Usage: check_speed_tags.py MOESIM_TESTS
"""
import subprocess
import sys


def run(binary, *args):
    out = subprocess.run([binary, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return out.stdout.splitlines()


def cases(lines):
    """(name, tags) of each test case in a --list-tests listing."""
    found = []
    for line in lines:
        indent = len(line) - len(line.lstrip(" "))
        text = line.strip()
        if not text or indent == 0:
            continue  # the heading ("All available test cases:") and the count at the end
        if indent == 2:
            found.append([text, ""])
        elif found and indent == 4:
            found[-1][0] += " " + text
        elif found and indent >= 6:
            found[-1][1] += text
    return found


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    listed = cases(run(binary, "--list-tests"))
    names = [n for n in run(binary, "--list-test-names-only") if n.strip()]
    if not names or len(listed) != len(names):
        sys.exit(f"could not read the test list: {len(listed)} cases in --list-tests, {len(names)} names in --list-test-names-only")
    bad = []
    for name, tags in listed:
        speed = {t for t in ("[quick]", "[slow]") if t in tags.lower()}
        if len(speed) != 1:
            bad.append(f"  {name}  {tags or '(no tags)'}")
    split = [f"  {n}" for n in names if any(c in n for c in ";[]")]
    if bad:
        print(f"{len(bad)} of {len(listed)} test cases need exactly one of [quick] (well under a second, no "
              "../shared/traces) or [slow]:")
        print("\n".join(bad))
    if split:
        print(f"{len(split)} test case names hold ';', '[' or ']', which catch_discover_tests cannot register:")
        print("\n".join(split))
    if bad or split:
        sys.exit(1)
    print(f"all {len(listed)} test cases carry [quick] or [slow]")


if __name__ == "__main__":
    main()
