"""Validates reports against sim/io/report.schema.json: the committed goldens and a fresh run of
every experiment in experiments/ that needs nothing outside the repository (MOESIM_BIN)."""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))

from moesim import report as moesim_report  # noqa: E402


class ReportSchema(unittest.TestCase):
    def validate(self, report):
        self.assertEqual(moesim_report.problems(report), [])

    def test_goldens_match_schema(self):
        goldens = sorted((ROOT / "tests/golden").glob("*.report.json"))
        self.assertGreaterEqual(len(goldens), 3)
        for g in goldens:
            with self.subTest(golden=g.name):
                self.validate(json.loads(g.read_text()))

    def test_fresh_reports_match_schema(self):
        binary = os.environ.get("MOESIM_BIN", str(ROOT / "build/moesim"))
        for exp in sorted((ROOT / "experiments").glob("*.json")):
            text = exp.read_text()
            if "../shared/" in text or "sweep" in exp.name:
                continue  # needs the shared traces, or is not a single experiment
            with self.subTest(experiment=exp.name), tempfile.TemporaryDirectory() as out:
                subprocess.run([binary, "run", str(exp), "--out", out, "-q", "--set", "workload.tokens_per_device=64"],
                               check=True, cwd=ROOT)
                self.validate(json.loads((pathlib.Path(out) / "report.json").read_text()))

    def test_schema_rejects_a_broken_report(self):
        report = json.loads(sorted((ROOT / "tests/golden").glob("*.report.json"))[0].read_text())
        del report["step_time_us"]
        self.assertEqual(moesim_report.problems(report), ["$: 'step_time_us' is a required property"])

    def test_schema_rejects_undeclared_fields(self):
        report = json.loads(sorted((ROOT / "tests/golden").glob("*.report.json"))[0].read_text())
        report["layers"][0]["surprise_us"] = 1.0
        report["experiment"]["cluster"]["surprise"] = 1
        found = moesim_report.problems(report)
        self.assertEqual(len(found), 2, found)
        self.assertTrue(all("'surprise" in p and "Additional properties" in p for p in found), found)


if __name__ == "__main__":
    unittest.main()
