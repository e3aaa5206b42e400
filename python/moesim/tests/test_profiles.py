"""Tests of moesim.profiles."""
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from moesim import profiles  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[3]


class ProfilesTest(unittest.TestCase):
    def test_measured_names(self):
        self.assertEqual(profiles.profile_name("NVIDIA H100 80GB HBM3"), "H100-SXM")
        self.assertEqual(profiles.profile_name("NVIDIA H200"), "H200")
        self.assertEqual(profiles.profile_name("NVIDIA A100-SXM4-80GB"), "A100-SXM4-80GB")
        self.assertEqual(profiles.profile_name("NVIDIA GeForce RTX 4090"), "GeForce-RTX-4090")

    def test_bundled(self):
        self.assertEqual(profiles.bundled_profile("NVIDIA H100 80GB HBM3"), "H100-SXM")
        self.assertEqual(profiles.bundled_profile("NVIDIA H100 SXM5"), "H100-SXM")
        self.assertEqual(profiles.bundled_profile("NVIDIA H200 NVL"), "H200")
        self.assertEqual(profiles.bundled_profile("NVIDIA H800"), "H800")
        self.assertIsNone(profiles.bundled_profile("NVIDIA H100 PCIe"))
        self.assertIsNone(profiles.bundled_profile(""))
        for name in ("H100-SXM", "H200", "H800"):
            self.assertTrue((ROOT / "hw_profiles" / f"{name}.json").is_file(), name)

    def test_gpu_tag(self):
        self.assertEqual(profiles.gpu_tag("NVIDIA H100 PCIe"), "H100-PCIe")
        self.assertEqual(profiles.gpu_tag("NVIDIA H100 NVL"), "H100-NVL")
        self.assertEqual(profiles.gpu_tag("NVIDIA A100 (80GB)"), "NVIDIA-A100-80GB")


if __name__ == "__main__":
    unittest.main()
