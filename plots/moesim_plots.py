#!/usr/bin/env python3
"""moesim-plots: figures from moesim report.json / timeline.json files.

    python3 plots/moesim_plots.py report REPORT.json --out DIR [--timeline FILE]
    python3 plots/moesim_plots.py compare REPORT.json... --out DIR
    python3 plots/moesim_plots.py sweep DIR/results.jsonl --out DIR [--x PATH] [--group PATH]

See plots/README.md.
"""
import os
import sys

sys.dont_write_bytecode = True  # keep plots/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))

from moesim_plots.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
