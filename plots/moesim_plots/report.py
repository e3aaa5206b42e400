"""Loading and checking moesim report.json and timeline.json files.

Everything the figures read is checked here first, so a malformed input is
reported as one line before any file is written.
"""
import json
import math
import os


class InputError(Exception):
    """A missing or malformed input file: str(e) is 'FILE: what'."""

    def __init__(self, path, what):
        super().__init__(f"{path}: {what}")


# Per-layer time components. The first five add up to layer_time_us (the
# critical path of the layer); dispatch and combine are the all-to-all times,
# mostly hidden behind compute, of which only exposed_comm is on the path.
PATH_COMPONENTS = [
    ("attention", "Attention"),
    ("dense_ffn", "Dense FFN"),
    ("shared_expert", "Shared expert"),
    ("expert_compute", "Expert compute"),
    ("exposed_comm", "Exposed comm."),
]
COMM_COMPONENTS = [("dispatch", "Dispatch (all-to-all)"), ("combine", "Combine (all-to-all)")]
OTHER_COMPONENT = ("other_compute", "Other (LM head, ...)")


def read_text(path, directory_hint=""):
    """The file's text; an InputError naming the file when it cannot be read as UTF-8."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not a file" + directory_hint) from None
    except OSError as e:
        raise InputError(path, e.strerror or str(e)) from None
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text") from None


def read_json(path):
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(path, f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None


class _Checker:
    def __init__(self, path):
        self.path = path

    def fail(self, where, what):
        raise InputError(self.path, f"{where}: {what}")

    def obj(self, parent, key, where):
        v = parent.get(key)
        if not isinstance(v, dict):
            self.fail(f"{where}.{key}", "missing" if v is None else "expected an object")
        return v

    def arr(self, parent, key, where):
        v = parent.get(key)
        if not isinstance(v, list):
            self.fail(f"{where}.{key}", "missing" if v is None else "expected an array")
        return v

    def num(self, parent, key, where, minimum=None):
        v = parent.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            self.fail(f"{where}.{key}", "missing" if v is None else "expected a finite number")
        if minimum is not None and v < minimum:
            self.fail(f"{where}.{key}", f"expected >= {minimum}, got {v}")
        return float(v)

    def nums(self, parent, key, where):
        values = self.arr(parent, key, where)
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                self.fail(f"{where}.{key}[{i}]", "expected a non-negative number")
        return [float(v) for v in values]


class Report:
    """The parts of a moesim report that the figures use, checked."""

    def __init__(self, path, data):
        c = _Checker(path)
        if not isinstance(data, dict):
            c.fail("$", "expected a JSON object (a moesim report.json)")
        self.path = path
        exp = data.get("experiment") if isinstance(data.get("experiment"), dict) else {}
        name = exp.get("name")
        self.name = name if isinstance(name, str) and name else os.path.basename(os.path.dirname(os.path.abspath(path)))
        self.step_us = c.num(data, "step_time_us", "$", 0)
        self.tokens_per_s = c.num(data, "tokens_per_s", "$", 0)
        self.bubble_us = data.get("pipeline_bubble_us") if isinstance(data.get("pipeline_bubble_us"), (int, float)) else 0.0
        self.critical_device = data.get("critical_device") if isinstance(data.get("critical_device"), int) else None
        bd = c.obj(data, "breakdown_us", "$")
        keys = [k for k, _ in PATH_COMPONENTS + COMM_COMPONENTS]
        self.breakdown = {k: c.num(bd, k, "$.breakdown_us", 0) for k in keys}
        self.breakdown[OTHER_COMPONENT[0]] = c.num(bd, OTHER_COMPONENT[0], "$.breakdown_us", 0) if OTHER_COMPONENT[0] in bd else 0.0

        self.layers = []
        for i, layer in enumerate(c.arr(data, "layers", "$")):
            where = f"$.layers[{i}]"
            if not isinstance(layer, dict):
                c.fail(where, "expected an object")
            row = {k: c.num(layer, f"{k}_us", where, 0) for k in keys}
            row["index"] = int(c.num(layer, "layer", where, 0))
            row["time"] = c.num(layer, "layer_time_us", where, 0)
            row["moe"] = layer.get("type") == "moe"
            if row["moe"]:
                row["load"] = c.nums(layer, "expert_load", where)
                row["device_load"] = c.nums(layer, "device_load", where) if "device_load" in layer else None
                row["drop_fraction"] = c.num(layer, "drop_fraction", where, 0) if "drop_fraction" in layer else 0.0
            self.layers.append(row)
        if not self.layers:
            c.fail("$.layers", "empty")

        drops = data.get("drops") if isinstance(data.get("drops"), dict) else {}
        cf = drops.get("capacity_factor", exp.get("moe", {}).get("capacity_factor") if isinstance(exp.get("moe"), dict) else None)
        self.capacity_factor = float(cf) if isinstance(cf, (int, float)) and not isinstance(cf, bool) else None
        self.drop_fraction = drops.get("drop_fraction", 0.0) if isinstance(drops.get("drop_fraction"), (int, float)) else 0.0

        hbm = c.obj(data, "hbm", "$")
        self.hbm_capacity = c.num(hbm, "capacity_bytes", "$.hbm", 0)
        self.hbm_usable = c.num(hbm, "usable_bytes", "$.hbm", 0)
        self.devices = []
        for i, dev in enumerate(c.arr(hbm, "devices", "$.hbm")):
            where = f"$.hbm.devices[{i}]"
            if not isinstance(dev, dict):
                c.fail(where, "expected an object")
            cats = c.obj(dev, "categories", where)
            self.devices.append({
                "device": int(c.num(dev, "device", where, 0)) if "device" in dev else i,
                "categories": {k: c.num(cats, k, where + ".categories", 0) for k in cats},
                "total": c.num(dev, "total_bytes", where, 0),
                "usable": c.num(dev, "usable_bytes", where, 0) if "usable_bytes" in dev else self.hbm_usable,
                "capacity": c.num(dev, "capacity_bytes", where, 0) if "capacity_bytes" in dev else self.hbm_capacity,
            })
            self.devices[-1]["fits"] = dev.get("fits", self.devices[-1]["total"] <= self.devices[-1]["usable"]) is True
        if not self.devices:
            c.fail("$.hbm.devices", "empty")

    @property
    def moe_layers(self):
        return [layer for layer in self.layers if layer["moe"]]

    def max_device(self):
        return max(self.devices, key=lambda d: d["total"])


def load_report(path):
    return Report(path, read_json(path))


def load_timeline(path):
    """Returns (device names {pid: name}, stream names {(pid, tid): name}, ops).

    ops is a list of (pid, tid, name, start_us, duration_us, layer, micro_batch);
    layer and micro_batch are None where the event does not say.
    """
    data = read_json(path)
    events = data.get("traceEvents") if isinstance(data, dict) else data
    if not isinstance(events, list):
        raise InputError(path, "$.traceEvents: expected an array of Chrome trace events")
    devices, streams, ops = {}, {}, []
    for i, e in enumerate(events):
        if not isinstance(e, dict):
            raise InputError(path, f"$.traceEvents[{i}]: expected an object")
        ph, pid, tid = e.get("ph"), e.get("pid"), e.get("tid", 0)
        args = e.get("args") if isinstance(e.get("args"), dict) else {}
        if ph == "M" and isinstance(args.get("name"), str):
            if e.get("name") == "process_name":
                devices[pid] = args["name"]
            elif e.get("name") == "thread_name":
                streams[(pid, tid)] = args["name"]
        elif ph == "X":
            ts, dur = e.get("ts"), e.get("dur")
            ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (ts, dur))
            if not ok or not isinstance(pid, int) or not isinstance(tid, int) or not isinstance(e.get("name"), str):
                raise InputError(path, f"$.traceEvents[{i}]: a complete event needs a name, integer pid/tid and numeric ts/dur")
            layer, mb = args.get("layer"), args.get("micro_batch")
            ops.append((pid, tid, e["name"], float(ts), float(dur), layer if isinstance(layer, int) else None,
                        mb if isinstance(mb, int) else None))
    if not ops:
        raise InputError(path, "no complete ('ph': 'X') events")
    return devices, streams, ops
