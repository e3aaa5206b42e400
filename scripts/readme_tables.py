#!/usr/bin/env python3
"""Generates the README's tables that are written elsewhere once: the folder map of sim/ (one row
per header, from its first comment) and the experiment key table (`moesim list keys --markdown`,
from sim/scenario/config_fields.cpp). Each lies between `<!-- NAME:begin -->` and
`<!-- NAME:end -->` in README.md.

    python3 scripts/readme_tables.py --moesim build/moesim --check   # exit 1 when README.md is stale
    python3 scripts/readme_tables.py --moesim build/moesim --write
"""
import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["base", "engine", "io", "import", "hardware", "network", "moe", "scenario", "sweep", "cli"]


def first_sentence(header: Path) -> str:
    """The first sentence of the comment a header opens with."""
    lines = []
    for line in header.read_text(encoding="utf-8").splitlines():
        if not line.startswith("//"):
            break
        lines.append(line[2:].strip())
    text = " ".join(lines)
    match = re.search(r"^(.*?[.:])(\s|$)", text)
    sentence = match.group(1) if match else text
    return sentence.rstrip(":").replace("|", "\\|")


def folder_map() -> str:
    declared = set(LAYERS)
    present = {p.name for p in (ROOT / "sim").iterdir() if p.is_dir() and any(p.iterdir())}
    if present != declared:
        raise SystemExit(f"readme_tables: sim/ folders {sorted(present)} differ from the layers {LAYERS}")
    rows = ["| layer | header | what it is |", "| --- | --- | --- |"]
    for layer in LAYERS:
        for header in sorted((ROOT / "sim" / layer).glob("*.h")):
            rows.append(f"| `{layer}` | `{header.relative_to(ROOT)}` | {first_sentence(header)} |")
    return "\n".join(rows) + "\n"


def key_table(moesim: str) -> str:
    return subprocess.run([moesim, "list", "keys", "--markdown"], check=True, capture_output=True, text=True).stdout


def replace(readme: str, name: str, body: str) -> str:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if begin not in readme or end not in readme:
        raise SystemExit(f"readme_tables: README.md lacks {begin} ... {end}")
    head, rest = readme.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}{end}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moesim", default=str(ROOT / "build" / "moesim"))
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--write", action="store_true")
    args = parser.parse_args()
    path = ROOT / "README.md"
    readme = path.read_text(encoding="utf-8")
    fresh = replace(replace(readme, "folder-map", folder_map()), "experiment-keys", key_table(args.moesim))
    if args.write:
        path.write_text(fresh, encoding="utf-8")
        return 0
    if fresh != readme:
        print("README.md is out of date: run python3 scripts/readme_tables.py --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
