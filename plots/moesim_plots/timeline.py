"""Gantt view of a moesim timeline.json (Chrome trace events, ts/dur in µs)."""
from collections import OrderedDict

from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .style import COMPONENT_COLORS, EXTRA_COLORS, new_figure

# timeline op name (less any '_bwd') -> (colour, legend label)
OP_KINDS = OrderedDict([
    ("attention", (COMPONENT_COLORS["attention"], "Attention")),
    ("moe_local", (COMPONENT_COLORS["moe_local"], "MoE-local")),
    ("dense_ffn", (COMPONENT_COLORS["dense_ffn"], "Dense FFN")),
    ("shared_expert", (COMPONENT_COLORS["shared_expert"], "Shared expert")),
    ("experts", (COMPONENT_COLORS["expert_compute"], "Expert compute")),
    ("dispatch", (COMPONENT_COLORS["dispatch"], "Dispatch (all-to-all)")),
    ("combine", (COMPONENT_COLORS["combine"], "Combine (all-to-all)")),
    ("lm_head", (COMPONENT_COLORS["other_compute"], "LM head")),
])
BWD = "_bwd"


def _kind(name):
    base = name[:-len(BWD)] if name.endswith(BWD) else name
    if base not in OP_KINDS:
        OP_KINDS[base] = (EXTRA_COLORS[(len(OP_KINDS) - 7) % len(EXTRA_COLORS)], base.replace("_", " ").capitalize())
    return base, name.endswith(BWD)


def _choose_devices(ops, n_devices, critical):
    pids = sorted({op[0] for op in ops})
    chosen = pids[:n_devices]
    if critical in pids and critical not in chosen:
        chosen.append(critical)
    return chosen


def _zoom_window(ops, pid):
    """Time window of the first two MoE layers (forward, first two micro-batches) on one device."""
    moe_layers = sorted({op[5] for op in ops if op[0] == pid and op[5] is not None and _kind(op[2])[0] == "experts"
                         and not _kind(op[2])[1]})
    if not moe_layers:
        end = max(op[3] + op[4] for op in ops)
        return 0.0, 0.1 * end, "first 10% of the step"
    wanted = set(moe_layers[:2])
    sel = [op for op in ops if op[0] == pid and op[5] in wanted and not _kind(op[2])[1] and op[6] in (None, 0, 1)]
    label = "layer" + (f"s {min(wanted)}–{max(wanted)}" if len(wanted) > 1 else f" {min(wanted)}")
    mbs = sorted({op[6] for op in sel if op[6] is not None})
    label += f", micro-batch{'es' if len(mbs) > 1 else ''} {', '.join(map(str, mbs))}" if mbs else ""
    return min(op[3] for op in sel), max(op[3] + op[4] for op in sel), f"{label} (first MoE layers, forward)"


def _draw(ax, rows, ops, window=None):
    row_of = {key: i for i, key in enumerate(rows)}
    spans = {}
    for pid, tid, name, ts, dur, *_ in ops:
        i = row_of.get((pid, tid))
        if i is None or (window and (ts + dur < window[0] or ts > window[1])):
            continue
        spans.setdefault((_kind(name), i), []).append((ts / 1000.0, max(dur, 0.0) / 1000.0))
    for i, (pid, _) in enumerate(rows):  # shade every other device
        if sorted({p for p, _ in rows}).index(pid) % 2:
            ax.axhspan(i - 0.5, i + 0.5, color="#F0F0F0", zorder=0, linewidth=0)
    for ((kind, bwd), i), xs in spans.items():
        ax.broken_barh(xs, (i - 0.4, 0.8), facecolors=OP_KINDS[kind][0], hatch="////" if bwd else None,
                       edgecolor="white" if bwd else "none", linewidth=0.0)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("Time (ms)")
    return {kind for (kind, _), _ in spans}, any(bwd for (_, bwd), _ in spans)


def timeline(devices, streams, ops, name, n_devices=4, critical=None, step_us=None):
    chosen = _choose_devices(ops, n_devices, critical)
    tids = {}
    for pid, tid, *_ in ops:
        if pid in chosen:
            tids.setdefault(pid, set()).add(tid)
    rows, labels = [], []
    for pid in chosen:
        for tid in sorted(tids[pid]):
            rows.append((pid, tid))
            dev = devices.get(pid, f"device {pid}") + (" (critical)" if pid == critical else "")
            labels.append(f"{dev} · {streams.get((pid, tid), f'stream {tid}')}")
    fig = new_figure(13, max(6, 2.5 + 0.55 * len(rows)))
    full, zoom = fig.subplots(2, 1)
    kinds, bwd = _draw(full, rows, ops)
    end_ms = max(op[3] + op[4] for op in ops) / 1000.0
    if step_us is not None:
        full.axvline(step_us / 1000.0, color="black", linestyle="--", linewidth=1.2)
        end_ms = max(end_ms, step_us / 1000.0)
    full.set_xlim(0, end_ms * 1.005)
    shown = ", ".join(str(p) for p in chosen)
    full.set_title(f"Timeline — {name}: devices {shown} (of {len({op[0] for op in ops})}), whole step")
    lo, hi, what = _zoom_window(ops, chosen[0])
    _draw(zoom, rows, ops, (lo, hi))
    zoom.set_xlim(lo / 1000.0, hi / 1000.0)
    zoom.set_title(f"Zoom: {what}, {lo / 1000.0:,.2f}–{hi / 1000.0:,.2f} ms", fontsize=10)
    for ax in (full, zoom):
        ax.set_yticks(range(len(rows)), labels, fontsize=8 if len(rows) > 10 else 9)
        ax.set_ylabel("Device · stream")
    handles = [Patch(color=OP_KINDS[k][0], label=OP_KINDS[k][1]) for k in OP_KINDS if k in kinds]
    if step_us is not None:
        handles.append(Line2D([], [], color="black", linestyle="--", label=f"Report step time ({step_us / 1000.0:,.1f} ms)"))
    if bwd:
        handles.append(Patch(facecolor="#BBBBBB", hatch="////", edgecolor="white", label="Backward (hatched)"))
    full.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="Op kind")
    return fig
