"""Loading and checking moesim report.json and timeline.json files.

Everything the figures read is checked here first, so a malformed input is
reported as one line before any file is written. Reports are checked against
sim/io/report.schema.json (moesim.report), which also gives the field lists.
"""
import json
import math
import os

from moesim import report as report_schema


class InputError(Exception):
    """A missing or malformed input file: str(e) is 'FILE: what'."""

    def __init__(self, path, what):
        super().__init__(f"{path}: {what}")


# Per-layer time components, from the schema's breakdown_us: the "critical_path"
# parts add up to layer_time_us (the critical path of the layer); dispatch and
# combine are the all-to-all times, mostly hidden behind compute, of which only
# exposed_comm is on the path. The labels are the figures' own.
LABELS = {
    "attention": "Attention",
    "moe_local": "MoE-local (router, permute, ...)",
    "dense_ffn": "Dense FFN",
    "shared_expert": "Shared expert",
    "expert_compute": "Expert compute",
    "exposed_comm": "Exposed comm.",
    "dispatch": "Dispatch (all-to-all)",
    "combine": "Combine (all-to-all)",
    "other_compute": "Other (LM head, ...)",
}
PATH_COMPONENTS = [(k, LABELS[k]) for k in report_schema.fields("breakdown_us", part="critical_path")]
COMM_COMPONENTS = [(k, LABELS[k]) for k in report_schema.fields("breakdown_us", part="all_to_all")]
OTHER_COMPONENT = next((k, LABELS[k]) for k in report_schema.fields("breakdown_us", part="outside_layers"))


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


class Report:
    """The parts of a moesim report that the figures use, checked against the schema."""

    def __init__(self, path, data):
        if not isinstance(data, dict):
            raise InputError(path, "$: expected a JSON object (a moesim report.json)")
        found = report_schema.problems(data)
        if found:
            raise InputError(path, found[0])
        self.path = path
        exp = data["experiment"]
        self.name = exp["name"] or os.path.basename(os.path.dirname(os.path.abspath(path)))
        self.step_us = float(data["step_time_us"])
        self.tokens_per_s = float(data["tokens_per_s"])
        self.bubble_us = data.get("pipeline_bubble_us", 0.0)
        self.critical_device = data.get("critical_device")
        bd = data["breakdown_us"]
        keys = [k for k, _ in PATH_COMPONENTS + COMM_COMPONENTS]
        self.breakdown = {k: float(bd[k]) for k in keys}
        self.breakdown[OTHER_COMPONENT[0]] = float(bd[OTHER_COMPONENT[0]])
        self.layers = [self._layer(layer, keys) for layer in data["layers"]]
        self.layer_by_kind = {k: float(v) for k, v in data.get("layer_ops", {}).get("moe_layer_by_kind_us", {}).items()}
        self.op_sources = data.get("cost_sources", {}).get("ops", {})

        drops = data["drops"]
        cf = drops["capacity_factor"]
        self.capacity_factor = float(cf) if isinstance(cf, (int, float)) else None
        self.drop_fraction = drops["drop_fraction"]

        hbm = data["hbm"]
        self.hbm_capacity = float(hbm["capacity_bytes"])
        self.hbm_usable = float(hbm["usable_bytes"])
        self.devices = [{"device": dev["device"],
                         "categories": {k: float(v) for k, v in dev["categories"].items()},
                         "total": float(dev["total_bytes"]),
                         "usable": float(dev["usable_bytes"]),
                         "capacity": float(dev["capacity_bytes"]),
                         "fits": dev["fits"],
                         "peak_op": dev.get("peak_op", "")} for dev in hbm["devices"]]

    @staticmethod
    def _layer(layer, keys):
        row = {k: float(layer[f"{k}_us"]) for k in keys}
        row["index"] = layer["layer"]
        row["time"] = float(layer["layer_time_us"])
        row["moe"] = layer["type"] == "moe"
        if row["moe"]:
            row["load"] = [float(v) for v in layer["expert_load"]]
            row["device_load"] = [float(v) for v in layer["device_load"]] if "device_load" in layer else None
            row["drop_fraction"] = float(layer["drop_fraction"])
        return row

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
