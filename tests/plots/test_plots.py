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
ROOT = os.path.join(HERE, "..", "..")
DATA = os.path.join(HERE, "data")
SCRIPT = os.path.join(ROOT, "plots", "moesim_plots.py")
sys.path[:0] = [os.path.join(ROOT, "plots"), os.path.join(ROOT, "python")]
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
                            figures("step_breakdown", "hbm", "layer_ops", "expert_load_heatmap", "device_load_heatmap", "timeline"))

    def test_report_with_capacity_factor_draws_drops(self):
        out = os.path.join(self.tmp, "capacity")
        self.assert_figures(["report", CAPACITY], out,
                            figures("step_breakdown", "hbm", "layer_ops", "expert_load_heatmap", "device_load_heatmap", "drops"))

    def test_timeline_option_and_overflowing_hbm(self):
        out = os.path.join(self.tmp, "overflow")
        timeline = os.path.join(DATA, "ep8_small", "timeline.json")
        self.assert_figures(["report", OVERFLOW, "--timeline", timeline, "--timeline-devices", "2"], out,
                            figures("step_breakdown", "hbm", "layer_ops", "expert_load_heatmap", "device_load_heatmap", "timeline"))

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


class DrawnValuesTest(unittest.TestCase):
    """The figures' bars, lines and images hold the report's numbers (read from the JSON here, not
    through the plots' own loader)."""

    @classmethod
    def setUpClass(cls):
        try:
            import matplotlib  # noqa: F401
            import numpy  # noqa: F401
        except ImportError as e:
            raise unittest.SkipTest(f"numpy and matplotlib are needed: {e}")
        import matplotlib.pyplot as plt
        from moesim_plots import figures, report, sweep
        cls.plt, cls.figures, cls.report, cls.sweep = plt, figures, report, sweep
        with open(SMALL) as f:
            cls.raw = json.load(f)
        with open(CAPACITY) as f:
            cls.raw_capacity = json.load(f)

    def figure(self, build):
        fig = build()
        self.addCleanup(self.plt.close, fig)
        return fig

    @staticmethod
    def bars(ax):
        """{label: [bar heights (vertical) or widths (horizontal)]} of the axes' bar containers."""
        out = {}
        for c in ax.containers:
            horizontal = c.orientation == "horizontal"
            out.setdefault(c.get_label(), []).extend(p.get_width() if horizontal else p.get_height() for p in c.patches)
        return out

    def test_step_breakdown(self):
        fig = self.figure(lambda: self.figures.step_breakdown(self.report.load_report(SMALL)))
        top, bottom = fig.axes[:2]
        bd, labels = self.raw["breakdown_us"], dict(self.report.PATH_COMPONENTS + self.report.COMM_COMPONENTS)
        labels[self.report.OTHER_COMPONENT[0]] = self.report.OTHER_COMPONENT[1]
        drawn = self.bars(top)
        self.assertGreater(bd["attention"] * bd["expert_compute"] * bd["dispatch"] * bd["combine"], 0)
        for key, label in labels.items():
            if bd[key] > 0:
                self.assertAlmostEqual(drawn[label][0], bd[key] / 1000, places=9, msg=key)
            else:
                self.assertNotIn(label, drawn, f"{key} is 0: not drawn")
        step = [line.get_xdata()[0] for line in top.lines if line.get_linestyle() == "--"]
        self.assertEqual(step, [self.raw["step_time_us"] / 1000])
        per_layer = self.bars(bottom)
        for key, label in self.report.PATH_COMPONENTS:
            want = [layer[f"{key}_us"] / 1000 for layer in self.raw["layers"]]
            if not any(want):
                self.assertNotIn(label, per_layer, f"{key} is 0 in every layer: not drawn")
                continue
            self.assertEqual(len(per_layer[label]), len(want), key)
            for got, value in zip(per_layer[label], want):
                self.assertAlmostEqual(got, value, places=12, msg=key)
        markers = {line.get_label(): list(line.get_ydata()) for line in bottom.lines}
        dispatch = [layer["dispatch_us"] / 1000 for layer in self.raw["layers"] if layer["dispatch_us"] > 0]
        self.assertEqual(markers[labels["dispatch"] + " time (marker)"], dispatch)

    def test_hbm(self):
        fig = self.figure(lambda: self.figures.hbm(self.report.load_report(OVERFLOW)))
        with open(OVERFLOW) as f:
            hbm = json.load(f)["hbm"]
        ax = fig.axes[0]
        gib = float(1 << 30)
        drawn = self.bars(ax)
        weights = drawn["Weights"]
        groups = len(weights)  # devices with identical use share a bar
        self.assertGreaterEqual(groups, 1)
        self.assertEqual(sorted(set(weights)), sorted({d["categories"]["weights_bytes"] / gib for d in hbm["devices"]}))
        totals = sorted({d["total_bytes"] / gib for d in hbm["devices"]})
        stacked = [sum(v[i] for k, v in drawn.items() if k != "_nolegend_" and len(v) == groups) for i in range(groups)]
        for got, want in zip(sorted(stacked), totals):
            self.assertAlmostEqual(got, want, places=6)
        levels = sorted(line.get_ydata()[0] for line in ax.lines)
        self.assertEqual(levels, [hbm["usable_bytes"] / gib, hbm["capacity_bytes"] / gib])
        # The fullest device's peak op is named above the bars.
        self.assertIn(hbm["devices"][hbm["max_device"]]["peak_op"], " ".join(t.get_text() for t in ax.texts))

    def test_expert_heatmap_and_drops(self):
        fig = self.figure(lambda: self.figures.expert_heatmap(self.report.load_report(CAPACITY)))
        moe = [layer for layer in self.raw_capacity["layers"] if layer["type"] == "moe"]
        grid = fig.axes[0].images[0].get_array()
        self.assertEqual(grid.shape, (len(moe), len(moe[0]["expert_load"])))
        for row, layer in zip(grid, moe):
            mean = sum(layer["expert_load"]) / len(layer["expert_load"])
            for got, load in zip(row, layer["expert_load"]):
                self.assertAlmostEqual(float(got), load / mean, places=12)
        side = self.bars(fig.axes[1])["Max / mean per layer"]
        for got, layer in zip(side, moe):
            self.assertAlmostEqual(got, layer["expert_load_max_over_mean"], places=9)
        fig = self.figure(lambda: self.figures.drops(self.report.load_report(CAPACITY)))
        ax = fig.axes[0]
        self.assertEqual(self.bars(ax)["Per MoE layer"], [100 * layer["drop_fraction"] for layer in moe])
        self.assertEqual(list(ax.lines[0].get_ydata()), [100 * self.raw_capacity["drops"]["drop_fraction"]] * 2)

    def test_sweep_lines(self):
        data = self.sweep.load_sweep(SWEEP)
        x, groups = self.sweep.choose_axes(data, None, None)
        fig = self.figure(lambda: self.sweep.a2a(data, x, groups))
        with open(SWEEP) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        want = {(json.dumps(r["overrides"][x]), r["metrics"]["breakdown_us.dispatch"] + r["metrics"]["breakdown_us.combine"])
                for r in rows if r["status"] == "ok"}
        drawn = set()
        for line in fig.axes[0].lines:
            for xv, yv in zip(line.get_xdata(), line.get_ydata()):
                drawn.add((float(xv), round(float(yv) * 1000, 6)))
        self.assertEqual({round(v, 6) for _, v in want}, {v for _, v in drawn})


if __name__ == "__main__":
    unittest.main()
