"""Checks `moesim run --timeline` output against the Chrome trace event format that Perfetto reads
(the "Trace Event Format" document: JSON object form with a traceEvents array; complete events
"X" need name, ts, dur, pid, tid in microseconds; metadata "M" events name processes and
threads; flow events "s"/"f" share a cat, name and id, and "f" binds to its enclosing slice with
bp "e"). One track per device and stream; every flow starts inside a dispatch slice and ends
inside an experts slice."""
import json
import os
import pathlib
import subprocess
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_timeline(experiment, *sets):
    binary = os.environ.get("MOESIM_BIN", str(ROOT / "build/moesim"))
    with tempfile.TemporaryDirectory() as out:
        args = [binary, "run", str(ROOT / experiment), "--out", out, "--timeline", "-q"]
        for s in sets:
            args += ["--set", s]
        subprocess.run(args, check=True, cwd=ROOT)
        report = json.loads((pathlib.Path(out) / "report.json").read_text())
        return json.loads((pathlib.Path(out) / "timeline.json").read_text()), report


class Timeline(unittest.TestCase):
    def check(self, trace, report, streams_per_device):
        self.assertIsInstance(trace, dict)
        events = trace["traceEvents"]
        devices = report["experiment"]["cluster"]["nodes"] * report["experiment"]["cluster"]["devices_per_node"]
        names = {}
        slices = {}
        for e in events:
            self.assertIn(e["ph"], {"X", "M", "s", "f"})
            self.assertIsInstance(e["pid"], int)
            if e["ph"] == "M":
                self.assertIn(e["name"], {"process_name", "thread_name", "process_sort_index"})
                if e["name"] == "thread_name":
                    names[(e["pid"], e["tid"])] = e["args"]["name"]
            elif e["ph"] == "X":
                for key in ("name", "ts", "dur", "pid", "tid"):
                    self.assertIn(key, e)
                self.assertGreaterEqual(e["ts"], 0)
                self.assertGreaterEqual(e["dur"], 0)
                self.assertIn((e["pid"], e["tid"]), names, "slice on an unnamed track")
                slices.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"], e["name"]))
        # One track per device and stream.
        self.assertEqual(len(names), devices * streams_per_device)
        end = max(b for v in slices.values() for _, b, _ in v)
        self.assertAlmostEqual(end, report["step_time_us"] - report.get("pipeline_bubble_us", 0), delta=1e-3)
        # Flow arrows: matched pairs, each end inside a slice of the right kind on its track.
        flows = {}
        for e in events:
            if e["ph"] in ("s", "f"):
                flows.setdefault(e["id"], {})[e["ph"]] = e
        self.assertGreater(len(flows), 0)
        for pair in flows.values():
            self.assertEqual(set(pair), {"s", "f"})
            self.assertEqual(pair["f"].get("bp"), "e")
            for ph, kind in (("s", "dispatch"), ("f", "experts")):
                ev = pair[ph]
                inside = [n for a, b, n in slices[(ev["pid"], ev["tid"])] if a <= ev["ts"] <= b]
                self.assertIn(kind, inside)

    def test_overlap_schedule_has_compute_and_comm_tracks(self):
        trace, report = run_timeline("tests/golden/deepseek-prefill-padded.json", "workload.tokens_per_device=64")
        self.check(trace, report, 2)

    def test_serial_schedule_has_one_track_per_device(self):
        trace, report = run_timeline("tests/golden/mixtral-ep8-decode.json")
        self.check(trace, report, 1)


if __name__ == "__main__":
    unittest.main()
