"""Tests for plots/moesim_plots.py on the small moesim outputs in data/
(made by data/regenerate.sh). Run: python3 -m unittest discover -s tests/plots"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
SCRIPT = os.path.join(HERE, "..", "..", "plots", "moesim_plots.py")
SMALL = os.path.join(DATA, "ep8_small", "report.json")
CAPACITY = os.path.join(DATA, "ep8_capacity", "report.json")
OVERFLOW = os.path.join(DATA, "ep8_overflow", "report.json")
SWEEP = os.path.join(DATA, "sweep", "results.jsonl")  # experiments/sweep-example.json
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def figures(*stems):
    return {f"{stem}.{ext}" for stem in stems for ext in ("png", "svg")}


class PlotsTest(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="moesim-plots-test-")
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name

    def run_plots(self, *args):
        result = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=300)
        if result.returncode == 1 and "numpy and matplotlib are needed" in result.stderr:
            self.skipTest(result.stderr.strip())
        return result

    def assert_figures(self, args, out, expected):
        result = self.run_plots(*args, "--out", out)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(set(os.listdir(out)), expected, "exactly the expected files, no temporaries left")
        self.assertEqual({os.path.basename(p) for p in result.stdout.split()}, expected, "prints what it wrote")
        for name in expected:
            with open(os.path.join(out, name), "rb") as f:
                data = f.read()
            self.assertGreater(len(data), 1000, name)
            if name.endswith(".png"):
                self.assertTrue(data.startswith(PNG_SIGNATURE), f"{name}: not a PNG")
            else:
                self.assertIn(b"<svg", data[:2000], f"{name}: not an SVG")
                self.assertTrue(data.rstrip().endswith(b"</svg>"), f"{name}: truncated SVG")

    def assert_error(self, args, out, file):
        result = self.run_plots(*args, "--out", out)
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(lines[0].startswith(f"moesim-plots: error: {file}: "), lines[0])
        self.assertEqual(result.stdout, "")
        self.assertFalse(os.path.exists(out) and os.listdir(out), "no files left behind")

    def test_report_with_timeline_beside_it(self):
        out = os.path.join(self.tmp, "small")
        self.assert_figures(["report", SMALL], out,
                            figures("step_breakdown", "hbm", "expert_load_heatmap", "timeline"))

    def test_report_with_capacity_factor_draws_drops(self):
        out = os.path.join(self.tmp, "capacity")
        self.assert_figures(["report", CAPACITY], out, figures("step_breakdown", "hbm", "expert_load_heatmap", "drops"))

    def test_timeline_option_and_overflowing_hbm(self):
        out = os.path.join(self.tmp, "overflow")
        timeline = os.path.join(DATA, "ep8_small", "timeline.json")
        self.assert_figures(["report", OVERFLOW, "--timeline", timeline, "--timeline-devices", "2"], out,
                            figures("step_breakdown", "hbm", "expert_load_heatmap", "timeline"))

    def test_compare(self):
        out = os.path.join(self.tmp, "compare")
        self.assert_figures(["compare", SMALL, CAPACITY, OVERFLOW], out, figures("compare_breakdown", "compare_hbm"))

    def test_sweep(self):
        out = os.path.join(self.tmp, "sweep")
        self.assert_figures(["sweep", SWEEP], out, figures("sweep_a2a", "sweep_drops", "sweep_pareto", "sweep_hbm"))
        with open(os.path.join(out, "sweep_a2a.svg"), encoding="utf-8") as f:
            svg = f.read()
        self.assertIn("parallel.expert_parallel", svg, "x axis is the sweep's first axis")

    def test_sweep_with_cost_capacity_errors_and_options(self):
        # Error rows, cost and HBM capacity metrics, and --x / --group.
        rows = []
        with open(SWEEP) as f:
            for i, line in enumerate(f):
                row = json.loads(line)
                row["metrics"]["cost.cost_per_million_tokens"] = 1e6 / row["metrics"]["tokens_per_s_per_device"]
                row["metrics"]["hbm.usable_bytes"] = 81559 * 2**20 - 4 * 2**30
                row["metrics"]["hbm.capacity_bytes"] = 81559 * 2**20
                if i == 3:
                    row = {"point": row["point"], "id": row["id"], "status": "error", "overrides": row["overrides"],
                           "metrics": {}, "error": "boom"}
                rows.append(json.dumps(row))
        results = os.path.join(self.tmp, "results.jsonl")
        with open(results, "w") as f:
            f.write("\n".join(rows) + "\n")
        out = os.path.join(self.tmp, "out")
        self.assert_figures(["sweep", results, "--x", "moe.capacity_factor", "--group", "parallel.expert_parallel"],
                            out, figures("sweep_a2a", "sweep_drops", "sweep_pareto", "sweep_hbm"))
        with open(os.path.join(out, "sweep_pareto.svg"), encoding="utf-8") as f:
            svg = f.read()
        self.assertIn("1 failed point skipped", svg)
        self.assertIn("Cost per million tokens", svg)

    def test_malformed_sweep_results_exit_2_without_files(self):
        with open(SWEEP) as f:
            lines = f.read().splitlines()
        cases = {
            "truncated.jsonl": lines[:2] + [lines[2][:40]],
            "no_metric.jsonl": lines[:1] + [lines[1].replace('"breakdown_us.dispatch"', '"breakdown_us.dispatchX"')],
            "bad_metric.jsonl": [lines[0].replace('"step_time_us":', '"step_time_us":"fast","x":')],
            "empty.jsonl": [],
        }
        for i, (name, content) in enumerate(cases.items()):
            path = os.path.join(self.tmp, name)
            with open(path, "w") as f:
                f.write("\n".join(content))
            with self.subTest(name):
                self.assert_error(["sweep", path], os.path.join(self.tmp, f"sout{i}"), path)
        with self.subTest("unknown --x"):
            self.assert_error(["sweep", SWEEP, "--x", "no.such.path"], os.path.join(self.tmp, "sout_x"), SWEEP)
        with self.subTest("missing file"):
            missing = os.path.join(self.tmp, "nope", "results.jsonl")
            self.assert_error(["sweep", missing], os.path.join(self.tmp, "sout_missing"), missing)

    def test_malformed_reports_exit_2_without_files(self):
        bad_json = os.path.join(self.tmp, "bad.json")
        with open(bad_json, "w") as f:
            f.write('{"step_time_us": 1.0, ')
        with open(SMALL) as f:
            report = json.load(f)
        del report["layers"][4]["attention_us"]
        missing_field = os.path.join(self.tmp, "missing_field.json")
        with open(missing_field, "w") as f:
            json.dump(report, f)
        not_object = os.path.join(self.tmp, "list.json")
        with open(not_object, "w") as f:
            f.write("[1, 2, 3]")
        missing_file = os.path.join(self.tmp, "nope", "report.json")
        for i, path in enumerate([bad_json, missing_field, not_object, missing_file]):
            with self.subTest(path=path):
                self.assert_error(["report", path], os.path.join(self.tmp, f"out{i}"), path)
        with self.subTest("compare with one bad report"):
            self.assert_error(["compare", SMALL, bad_json], os.path.join(self.tmp, "out_compare"), bad_json)

    def test_malformed_timeline_beside_report(self):
        folder = os.path.join(self.tmp, "run")
        os.makedirs(folder)
        shutil.copy(SMALL, folder)
        with open(os.path.join(folder, "timeline.json"), "w") as f:
            f.write('{"traceEvents": 5}')
        out = os.path.join(self.tmp, "out")
        self.assert_error(["report", os.path.join(folder, "report.json")], out, os.path.join(folder, "timeline.json"))

    def test_error_leaves_existing_out_dir_alone(self):
        out = os.path.join(self.tmp, "existing")
        os.makedirs(out)
        keep = os.path.join(out, "keep.txt")
        with open(keep, "w") as f:
            f.write("mine")
        result = self.run_plots("report", os.path.join(self.tmp, "absent.json"), "--out", out)
        self.assertEqual(result.returncode, 2)
        self.assertEqual(os.listdir(out), ["keep.txt"])


if __name__ == "__main__":
    unittest.main()
