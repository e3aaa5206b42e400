"""Tests of moesim.report against the committed golden reports."""
import copy
import json
import pathlib
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from moesim import report  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[3]
GOLDENS = sorted((ROOT / "tests" / "golden").glob("*.report.json"))


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.golden = json.loads(GOLDENS[0].read_text())

    def test_goldens_are_valid(self):
        self.assertGreaterEqual(len(GOLDENS), 3)
        for g in GOLDENS:
            with self.subTest(g.name):
                self.assertEqual(report.problems(json.loads(g.read_text())), [])
                report.load(g)

    def test_problems_name_the_field(self):
        r = copy.deepcopy(self.golden)
        del r["layers"][2]["attention_us"]
        r["hbm"]["devices"][0]["categories"]["surprise_bytes"] = 1
        r["step_time_us"] = float("nan")
        found = report.problems(r)
        self.assertIn("$.layers[2]: 'attention_us' is a required property", found)
        self.assertTrue(any(p.startswith("$.hbm.devices[0].categories: Additional properties") for p in found), found)
        self.assertIn("$.step_time_us: expected a finite number", found)

    def test_load_errors_are_one_line(self):
        with tempfile.TemporaryDirectory() as d:
            path = pathlib.Path(d) / "r.json"
            path.write_text('{"step_time_us": ')
            with self.assertRaisesRegex(report.ReportError, "not valid JSON"):
                report.load(path)
            path.write_text("[1]")
            with self.assertRaisesRegex(report.ReportError, r"\$: expected a JSON object"):
                report.load(path)
            r = copy.deepcopy(self.golden)
            r["extra"] = 1
            path.write_text(json.dumps(r))
            with self.assertRaisesRegex(report.ReportError, r"r.json: \$: Additional properties"):
                report.load(path)
            with self.assertRaisesRegex(report.ReportError, "No such file"):
                report.load(pathlib.Path(d) / "absent.json")

    def test_every_property_is_described(self):
        def walk(s, where):
            if not isinstance(s, dict):
                return
            if s.get("type") == "object" and where != "$":
                self.assertIn("description", s, where)
            for k, v in s.get("properties", {}).items():
                self.assertIn("description", v, f"{where}.{k}")
                walk(v, f"{where}.{k}")
            walk(s.get("items"), where + "[]")
            if "properties" in s:
                self.assertIn("additionalProperties", s, where)
        walk(report.schema(), "$")

    def test_fields(self):
        self.assertEqual(report.fields("breakdown_us", part="critical_path"),
                         ["attention", "moe_local", "dense_ffn", "shared_expert", "expert_compute", "exposed_comm"])
        self.assertEqual(report.fields("breakdown_us", part="all_to_all"), ["dispatch", "combine"])
        self.assertIn("kv_cache_bytes", report.fields("hbm.devices.categories"))
        self.assertEqual(report.unit("layers.dispatch_us"), "us")
        self.assertEqual(report.unit("hbm.devices.total_bytes"), "bytes")
        self.assertEqual(report.node("drops.drop_fraction")["maximum"], 1)


if __name__ == "__main__":
    unittest.main()
