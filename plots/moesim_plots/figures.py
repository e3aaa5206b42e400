"""Figures for one report (step breakdown, HBM, expert load, drops) and for
several reports side by side (compare_*)."""
import math
import textwrap
from collections import OrderedDict

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .report import COMM_COMPONENTS, OTHER_COMPONENT, PATH_COMPONENTS
from .style import (CAPACITY_STYLE, COMPONENT_COLORS, FIT_COLOR, GIB, USABLE_STYLE, fmt_ms, hbm_category,
                    hbm_order, ms, new_figure, ranges)

STEP_COMPONENTS = PATH_COMPONENTS + [OTHER_COMPONENT]
MAX_HBM_BARS = 40


def _stack_h(ax, y, parts, scale, hatch=None, height=0.6):
    """Horizontal stacked bar of (key, label, value_ms) parts at y; segments
    wider than 8% of scale (the axis extent) get their share written in."""
    total = sum(v for _, _, v in parts) or 1.0
    left = 0.0
    for key, label, value in parts:
        if value <= 0:
            continue
        ax.barh(y, value, left=left, height=height, color=COMPONENT_COLORS[key], hatch=hatch,
                edgecolor="white", linewidth=0.6, label=label)
        if value >= 0.08 * scale:
            ax.text(left + value / 2, y, f"{100 * value / total:.0f}%", ha="center", va="center",
                    color="white", fontsize=8, fontweight="bold")
        left += value
    return left


def step_breakdown(report):
    fig = new_figure(12, 7.5)
    top, bottom = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1, 2.6]})
    step_ms = ms(report.step_us)
    path = [(k, lbl, ms(report.breakdown[k])) for k, lbl in STEP_COMPONENTS]
    comm = [(k, lbl, ms(report.breakdown[k])) for k, lbl in COMM_COMPONENTS]
    xmax = max(sum(v for *_, v in path), sum(v for *_, v in comm), step_ms)
    end = _stack_h(top, 1, path, xmax)
    _stack_h(top, 0, comm, xmax, hatch="//")
    top.axvline(step_ms, color="black", linestyle="--", linewidth=1.2)
    note = f"step {fmt_ms(step_ms)}\n{report.tokens_per_s:,.0f} tokens/s"
    top.text(max(end, step_ms) + 0.01 * xmax, 1, note, va="center", ha="left", fontsize=10, fontweight="bold")
    if abs(end - step_ms) > 0.01 * step_ms:
        top.text(step_ms, 1.45, " step time", fontsize=8, va="bottom")
    top.set_xlim(0, xmax * 1.18)
    top.set_yticks([1, 0], ["Critical path\n(summed over layers)", "All-to-all issued\n(mostly overlapped)"])
    top.set_ylim(-0.5, 1.7)
    top.set_xlabel("Time per step (ms)")
    top.set_title(f"Step-time breakdown — {report.name}")

    layers = report.layers
    x = np.arange(len(layers))
    bottom_stack = np.zeros(len(layers))
    for key, label in PATH_COMPONENTS:
        values = np.array([ms(layer[key]) for layer in layers])
        if values.any():
            bottom.bar(x, values, bottom=bottom_stack, width=0.8, color=COMPONENT_COLORS[key], label=label)
            bottom_stack += values
    for (key, label), marker in zip(COMM_COMPONENTS, ["v", "^"]):
        values = np.array([ms(layer[key]) for layer in layers])
        if values.any():
            bottom.plot(x[values > 0], values[values > 0], linestyle="none", marker=marker, markersize=7,
                        color=COMPONENT_COLORS[key], markeredgecolor="black", markeredgewidth=0.9,
                        label=f"{label} time (marker)")
    bottom.set_xlim(-0.7, len(layers) - 0.3)
    step = max(1, math.ceil(len(layers) / 30))
    bottom.set_xticks(x[::step], [str(layer["index"]) for layer in layers[::step]])
    bottom.set_xlabel("Layer")
    bottom.set_ylabel("Layer time (ms)")
    bottom.set_title("Per layer: stacked bars = critical path; markers = all-to-all time (overlapped)",
                     fontsize=10, fontweight="normal")
    found = dict(zip(*bottom.get_legend_handles_labels()[::-1]))
    entries = [(found[lbl], lbl) for _, lbl in PATH_COMPONENTS if lbl in found]
    if report.breakdown[OTHER_COMPONENT[0]] > 0:
        entries.append((Patch(color=COMPONENT_COLORS[OTHER_COMPONENT[0]]), OTHER_COMPONENT[1] + " (top panel)"))
    entries += [(h, lbl) for lbl, h in found.items() if lbl.endswith("(marker)")]
    entries.append((Line2D([], [], color="black", linestyle="--"), "Step time (top panel)"))
    bottom.legend(*zip(*entries), loc="upper left", bbox_to_anchor=(1.01, 1.0), title="Component")
    return fig


COMM_KINDS = ("dispatch", "combine", "tp_allreduce")


def layer_ops(report):
    """One MoE layer of the critical device by op kind (report layer_ops.moe_layer_by_kind_us):
    a bar per kind, longest first, compute solid and all-to-all hatched, each labelled with what
    costed it (cost_sources.ops: measured table or roofline)."""
    items = sorted(report.layer_by_kind.items(), key=lambda kv: -kv[1])
    fig = new_figure(11, 0.42 * len(items) + 1.8)
    ax = fig.subplots()
    y = np.arange(len(items))[::-1]
    total = sum(v for k, v in items if k not in COMM_KINDS)
    for yi, (kind, us) in zip(y, items):
        comm = kind in COMM_KINDS
        color = COMPONENT_COLORS["dispatch" if comm else "expert_compute" if kind == "experts" else "attention"]
        ax.barh(yi, us / 1000.0, color=color, hatch="//" if comm else None, edgecolor="white")
        sources = report.op_sources.get(kind, {})
        src = "measured" if any(s.startswith("measured") for s in sources) else ("roofline" if sources else "")
        share = "" if comm else f" ({100 * us / total:.0f}%)" if total > 0 else ""
        ax.text(us / 1000.0, yi, f" {us / 1000.0:.3g} ms{share}" + (f"  [{src}]" if src else ""), va="center", fontsize=8)
    ax.set_yticks(y, [k.replace("_", " ") for k, _ in items])
    ax.set_xlim(0, max([v for _, v in items] + [1.0]) / 1000.0 * 1.35)
    ax.set_xlabel("Time in one MoE layer (ms); % of the layer's compute; hatched: all-to-all (overlappable)")
    ax.set_title(f"One MoE layer by op kind — {report.name}")
    return fig


def _hbm_groups(devices):
    """Bars to draw: [(label, device dict, count)], plus a note on how devices were grouped."""
    if len(devices) <= MAX_HBM_BARS:
        return [(str(d["device"]), d, 1) for d in devices], "Device", ""
    profiles = OrderedDict()
    for d in devices:
        key = tuple(sorted((k, round(v / 2**20)) for k, v in d["categories"].items()))
        profiles.setdefault(key, []).append(d)
    if len(profiles) <= MAX_HBM_BARS:
        sep = "\n" if len(profiles) <= 16 else " "  # many bars get rotated one-line labels
        bars = [(f"{ranges([d['device'] for d in g], 2)}{sep}(×{len(g)})", max(g, key=lambda d: d["total"]), len(g))
                for g in profiles.values()]
        return bars, "Devices with identical HBM use (count)", \
            f"{len(devices)} devices grouped into {len(profiles)} distinct HBM profile(s)"
    every = math.ceil(len(devices) / (MAX_HBM_BARS - 1))
    chosen = devices[::every]
    biggest = max(devices, key=lambda d: d["total"])
    if biggest not in chosen:
        chosen.append(biggest)
    return [(str(d["device"]), d, 1) for d in chosen], "Device", \
        f"{len(devices)} devices: one in {every} shown, plus the fullest (device {biggest['device']})"


def _hbm_bars(ax, bars, keys):
    x = np.arange(len(bars))
    base = np.zeros(len(bars))
    for key in keys:
        _, label, color = hbm_category(key)
        values = np.array([d["categories"].get(key, 0.0) / GIB for _, d, _ in bars])
        if values.any():
            ax.bar(x, values, bottom=base, width=0.7, color=color, label=label, edgecolor="white", linewidth=0.4)
            base += values
    for xi, (_, d, _) in zip(x, bars):
        if not d["fits"]:
            ax.bar(xi, d["total"] / GIB, width=0.7, fill=False, edgecolor=FIT_COLOR, linewidth=2)
            ax.text(xi, d["total"] / GIB, f"+{(d['total'] - d['usable']) / GIB:.1f}", color=FIT_COLOR,
                    ha="center", va="bottom", fontsize=8, fontweight="bold", rotation=90 if len(bars) > 16 else 0)
    pad = max(0.0, (5 - len(bars)) / 2)  # keep a lone bar from filling the axes
    ax.set_xlim(-0.6 - pad, len(bars) - 0.4 + pad)
    return x


def _capacity_lines(ax, usable, capacity):
    ax.axhline(usable / GIB, label=f"Usable {usable / GIB:.1f} GiB", **USABLE_STYLE)
    ax.axhline(capacity / GIB, label=f"Capacity {capacity / GIB:.1f} GiB", **CAPACITY_STYLE)


def _hbm_legend(ax, any_overflow):
    found = list(zip(*ax.get_legend_handles_labels()))
    is_line = [lbl.startswith(("Usable", "Capacity")) for _, lbl in found]
    lines = sorted((e for e, line in zip(found, is_line) if line), key=lambda e: not e[1].startswith("Capacity"))
    stacked = [e for e, line in zip(found, is_line) if not line][::-1]  # top of the stack first
    handles, labels = (list(t) for t in zip(*(stacked + lines)))
    if any_overflow:
        handles.append(Patch(fill=False, edgecolor=FIT_COLOR, linewidth=2))
        labels.append("Does not fit (+GiB over usable)")
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="HBM use")


def _ticklabels(ax, x, labels, red):
    rotate = len(labels) > 16 and max(len(s) for s in labels) > 2
    ax.set_xticks(x, labels, rotation=90 if rotate else 0, fontsize=8 if len(labels) > 24 else 9)
    for tick, is_red in zip(ax.get_xticklabels(), red):
        if is_red:
            tick.set_color(FIT_COLOR)


def hbm(report):
    bars, xlabel, note = _hbm_groups(report.devices)
    keys = hbm_order({k for d in report.devices for k in d["categories"]})
    fig = new_figure(max(10, min(14, 5 + 0.25 * len(bars))), 6)
    ax = fig.subplots()
    x = _hbm_bars(ax, bars, keys)
    _capacity_lines(ax, report.hbm_usable, report.hbm_capacity)
    _ticklabels(ax, x, [label for label, _, _ in bars], [not d["fits"] for _, d, _ in bars])
    biggest = report.max_device()
    n_over = sum(not d["fits"] for d in report.devices)
    verdict = f"{n_over} of {len(report.devices)} devices do NOT fit" if n_over else "all devices fit"
    peak = f"\ntransient buffers peak at {biggest['peak_op']}" if biggest.get("peak_op") else ""
    ax.set_title(f"HBM per device — {report.name}", pad=36 if peak else 24)
    ax.text(0.5, 1.015, f"largest {biggest['total'] / GIB:.1f} GiB "
                        f"(device {biggest['device']}) of {report.hbm_usable / GIB:.1f} GiB usable: {verdict}{peak}",
            transform=ax.transAxes, ha="center", va="bottom", color=FIT_COLOR if n_over else "black")
    ax.set_xlabel(xlabel + (f"\n{note}" if note else ""))
    ax.set_ylabel("HBM (GiB)")
    ax.set_ylim(0, max(report.hbm_capacity, biggest["total"]) / GIB * 1.1)
    _hbm_legend(ax, n_over > 0)
    return fig


def _load_heatmap(moe, loads, xlabel, title, side_title):
    """MoE layer x (expert or device) heatmap of load over the layer mean, with each layer's
    max/mean beside it."""
    width = max(len(load) for load in loads)
    grid = np.full((len(moe), width), np.nan)
    for i, values in enumerate(loads):
        load = np.array(values, dtype=float)
        if load.size and load.mean() > 0:
            grid[i, :load.size] = load / load.mean()
    finite = grid[np.isfinite(grid)]
    vmax = max(2.0, float(finite.max()) if finite.size else 2.0)
    fig = new_figure(13, max(5.5, min(11, 2.5 + 0.13 * len(moe))))
    ax, side = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [5, 1]})
    image = ax.imshow(grid, aspect="auto", interpolation="nearest", cmap="RdBu_r",
                      norm=TwoSlopeNorm(vmin=0.0, vcenter=1.0, vmax=vmax))
    step = max(1, math.ceil(len(moe) / 25))
    ax.set_yticks(np.arange(len(moe))[::step], [str(layer["index"]) for layer in moe][::step])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("MoE layer")
    ax.set_title(title)
    bar = fig.colorbar(image, ax=ax, pad=0.01, fraction=0.04)
    bar.set_label("Load / layer mean (1 = balanced)")
    peaks = np.array([np.nanmax(row) if np.isfinite(row).any() else 0.0 for row in grid])
    side.barh(np.arange(len(moe)), peaks, color="#C44E52", height=0.8, label="Max / mean per layer")
    side.axvline(1.0, color="black", linewidth=1, label="Balanced (1.0)")
    side.axvline(peaks.mean(), color="#4C72B0", linestyle="--", label=f"Mean {peaks.mean():.2f}")
    side.set_xlabel("Max / mean load")
    side.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, title=side_title)
    return fig


def expert_heatmap(report):
    moe = report.moe_layers
    if not moe:
        return None
    after = " (tokens kept after capacity drops)" if report.capacity_factor is not None else ""
    return _load_heatmap(moe, [layer["load"] for layer in moe], "Expert (logical id)",
                         f"Expert load / layer mean — {report.name}{after}", "Hottest expert per layer")


def device_heatmap(report):
    """The same load after placement: MoE layer x device (tokens each device's expert slots
    processed). None for reports without per-device loads."""
    moe = [layer for layer in report.moe_layers if layer.get("device_load")]
    if not moe:
        return None
    return _load_heatmap(moe, [layer["device_load"] for layer in moe], "Device (expert-parallel rank within its pipeline stage)",
                         f"Device load after placement / layer mean — {report.name}", "Busiest device per layer")


def drops(report):
    if report.capacity_factor is None:
        return None
    moe = report.moe_layers
    fig = new_figure(11, 5)
    ax = fig.subplots()
    x = np.arange(len(moe))
    ax.bar(x, [100 * layer["drop_fraction"] for layer in moe], color="#C44E52", width=0.8, label="Per MoE layer")
    ax.axhline(100 * report.drop_fraction, color="black", linestyle="--",
               label=f"Whole step: {100 * report.drop_fraction:.2f}%")
    step = max(1, math.ceil(len(moe) / 30))
    ax.set_xticks(x[::step], [str(layer["index"]) for layer in moe][::step])
    ax.set_xlabel("MoE layer")
    ax.set_ylabel("Dropped expert assignments (%)")
    ax.set_title(f"Token drops at capacity factor {report.capacity_factor:g} — {report.name}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _names(reports):
    names = [r.name for r in reports]
    if len(set(names)) < len(names):  # same experiment name: tell them apart by file
        names = [f"{r.name}\n({r.path})" for r in reports]
    return names


def compare_breakdown(reports):
    names = _names(reports)
    fig = new_figure(14, max(3.5, 1.6 + 0.75 * len(reports)))
    ax, share = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    ys = np.arange(len(reports))[::-1]
    xmax = max(max(ms(r.step_us), sum(ms(r.breakdown[k]) for k, _ in STEP_COMPONENTS)) for r in reports)
    for y, r in zip(ys, reports):
        parts = [(k, lbl, ms(r.breakdown[k])) for k, lbl in STEP_COMPONENTS]
        end = _stack_h(ax, y, parts, xmax)
        step_ms = ms(r.step_us)
        ax.plot([step_ms, step_ms], [y - 0.38, y + 0.38], color="black", linestyle="--", linewidth=1.2)
        ax.text(max(end, step_ms), y, f"  {fmt_ms(step_ms)}\n  {r.tokens_per_s:,.0f} tok/s", va="center", fontsize=9)
        total = sum(v for *_, v in parts) or 1.0
        _stack_h(share, y, [(k, lbl, 100 * v / total) for k, lbl, v in parts], 100.0)
    ax.set_xlim(0, xmax * 1.3)
    ax.set_yticks(ys, names)
    ax.set_xlabel("Time per step (ms), components summed over layers")
    ax.set_title("Step-time breakdown by experiment")
    share.set_xlim(0, 100)
    share.set_xlabel("Share of the summed components (%)")
    share.set_title("Same, as shares", fontsize=10, fontweight="normal")
    found = dict(zip(*ax.get_legend_handles_labels()[::-1]))
    unique = OrderedDict((lbl, found[lbl]) for _, lbl in STEP_COMPONENTS if lbl in found)
    unique["Step time"] = Line2D([], [], color="black", linestyle="--")
    share.legend(unique.values(), unique.keys(), loc="upper left", bbox_to_anchor=(1.01, 1.0), title="Component")
    return fig


def compare_hbm(reports):
    names = _names(reports)
    maxes = [r.max_device() for r in reports]
    keys = hbm_order({k for d in maxes for k in d["categories"]})
    fig = new_figure(min(16, max(10, 5 + 1.4 * len(reports))), 6)
    ax = fig.subplots()
    x = _hbm_bars(ax, [(n, d, 1) for n, d in zip(names, maxes)], keys)
    usable, capacity = {r.hbm_usable for r in reports}, {r.hbm_capacity for r in reports}
    if len(usable) == 1 and len(capacity) == 1:
        _capacity_lines(ax, usable.pop(), capacity.pop())
    else:  # different hardware: one short line per bar
        for i, (xi, r) in enumerate(zip(x, reports)):
            ax.hlines(r.hbm_usable / GIB, xi - 0.45, xi + 0.45, label="Usable" if i == 0 else None, **USABLE_STYLE)
            ax.hlines(r.hbm_capacity / GIB, xi - 0.45, xi + 0.45, label="Capacity" if i == 0 else None,
                      **CAPACITY_STYLE)
    for xi, d in zip(x, maxes):
        if d["fits"]:
            ax.text(xi, d["total"] / GIB, f"{d['total'] / GIB:.1f}", ha="center", va="bottom", fontsize=8)
    labels = [f"{textwrap.fill(n, 14)}\n(device {d['device']})" for n, d in zip(names, maxes)]
    _ticklabels(ax, x, labels, [not d["fits"] for d in maxes])
    ax.set_ylabel("HBM of the fullest device (GiB)")
    ax.set_xlabel("Experiment (fullest device)")
    ax.set_title("Peak per-device HBM by experiment")
    ax.set_ylim(0, max(max(r.hbm_capacity for r in reports), max(d["total"] for d in maxes)) / GIB * 1.12)
    _hbm_legend(ax, any(not d["fits"] for d in maxes))
    return fig
