"""Tests of moesim.io: hand-written .npy/.npz bytes, trace headers, counts documents."""
import json
import os
import pathlib
import struct
import sys
import tempfile
import unittest
import zipfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from moesim import io  # noqa: E402

try:
    import numpy as np
except ImportError:  # the standard-library parts are tested without it
    np = None


class NpyTest(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = pathlib.Path(tmp.name)

    def test_header_is_padded_to_64_bytes(self):
        for shape in [(3,), (2, 3, 4), (), (12345678, 2)]:
            data = io.npy_bytes("<i2", shape, b"")
            self.assertEqual(len(data) % 64, 0, shape)
            self.assertTrue(data.endswith(b"\n"))

    def test_shape_text(self):
        self.assertIn(b"'shape': (5,), ", io.npy_bytes("|u1", (5,), b""))
        self.assertIn(b"'shape': (2, 3), ", io.npy_bytes("|u1", (2, 3), b""))
        self.assertIn(b"'shape': (32, 99999999999999999999999, 2), ",
                      io.npy_bytes("<i4", "(32, 99999999999999999999999, 2)", b""))

    def test_int_round_trip(self):
        path = self.dir / "a.npy"
        values = [0, 1, -2, 300, -32768, 32767]
        io.write_npy(path, "<i2", (2, 3), [struct.pack("<3h", *values[:3]), struct.pack("<3h", *values[3:])])
        self.assertEqual(io.read_npy_ints(path), ((2, 3), values))

    def test_bad_files(self):
        path = self.dir / "b.npy"
        path.write_bytes(b"not numpy")
        with self.assertRaisesRegex(io.NpyError, "not a .npy file"):
            io.read_npy_ints(path)
        path.write_bytes(io.npy_bytes("<f4", (1,), b"\0\0\0\0"))
        with self.assertRaisesRegex(io.NpyError, "dtype <f4"):
            io.read_npy_ints(path)
        path.write_bytes(io.npy_bytes("<i4", (2,), b"\0\0\0\0"))
        with self.assertRaisesRegex(io.NpyError, "4 data bytes, expected 8"):
            io.read_npy_ints(path)

    @unittest.skipIf(np is None, "needs numpy")
    def test_numpy_reads_what_we_write(self):
        path = self.dir / "c.npy"
        path.write_bytes(io.npy_bytes("<i4", (2, 2), struct.pack("<4i", 1, 2, 3, 4)))
        self.assertEqual(np.load(path).tolist(), [[1, 2], [3, 4]])
        np.save(self.dir / "d.npy", np.arange(6, dtype=np.int64).reshape(3, 2))
        self.assertEqual(io.read_npy_ints(self.dir / "d.npy"), ((3, 2), [0, 1, 2, 3, 4, 5]))

    def test_npz_bytes_reproducible(self):
        members = {"meta": io.npy_bytes("|u1", (2,), b"{}")}
        fixed = (1980, 1, 1, 0, 0, 0)
        self.assertEqual(io.npz_bytes(members, fixed), io.npz_bytes(members, fixed))
        path = self.dir / "e.npz"
        path.write_bytes(io.npz_bytes(members, fixed))
        with zipfile.ZipFile(path) as z:
            self.assertEqual(z.namelist(), ["meta.npy"])
            self.assertEqual(z.getinfo("meta.npy").compress_type, zipfile.ZIP_STORED)


class TraceTest(unittest.TestCase):
    def test_meta(self):
        meta = io.trace_meta("m", 8, 2, range(3), "here", {"top_k": 3})
        self.assertEqual(meta, {"format": "moesim-trace", "version": 1, "model": "m", "num_experts": 8, "top_k": 3,
                                "layers": [0, 1, 2], "source": "here"})
        self.assertEqual(json.loads(io.meta_bytes(meta)), meta)

    @unittest.skipIf(np is None, "needs numpy")
    def test_round_trip(self):
        ids = np.arange(2 * 3 * 2, dtype=np.int16).reshape(2, 3, 2) % 8
        w = np.full(ids.shape, 0.5, dtype=np.float32)
        meta = io.trace_meta("m", 8, 2, [1, 3], "test")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.npz")
            io.write_trace(path, ids, meta, w)
            got_meta, got_ids, got_w = io.read_trace(path)
            self.assertEqual(got_meta, meta)
            self.assertEqual(got_ids.dtype, np.int16)
            self.assertTrue((got_ids == ids).all() and (got_w == w).all())
            io.write_trace(path, ids, meta)
            self.assertIsNone(io.read_trace(path)[2])


class CountsTest(unittest.TestCase):
    def test_round_trip_and_sglang(self):
        doc = io.counts_doc("m", [3, 5], [[1, 2.0, 3.5], [0, 0, 7]], "test", top_k=2)
        self.assertEqual(list(doc), ["format", "model", "source", "top_k", "num_experts", "layers", "counts"])
        self.assertEqual(doc["counts"], [[1, 2, 3.5], [0, 0, 7]])
        self.assertEqual(doc["num_experts"], 3)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "c.json")
            io.write_counts(path, doc)
            self.assertEqual(os.listdir(d), ["c.json"])
            self.assertEqual(io.read_counts(path), doc)
            with open(path, "w") as f:
                json.dump({"logical_count": [[[1, 2], [3, 4]], [[1, 0], [0, 1]]]}, f)
            got = io.read_counts(path)
            self.assertEqual(got["counts"], [[2, 2], [3, 5]])
            self.assertEqual(got["layers"], [0, 1])


if __name__ == "__main__":
    unittest.main()
