"""Loading a sweep's results.jsonl (moesim sweep) and drawing its figures.

load_sweep() checks every row before anything is drawn; the figures only read
the checked Sweep object.
"""
import json
import math
import os

from moesim import report as report_schema

from .report import InputError, read_text

# Metrics every successful row must carry (null is allowed: the report lacked it).
REQUIRED = ["step_time_us", "tokens_per_s_per_device", "breakdown_us.dispatch", "breakdown_us.combine",
            "hbm.max_device_total_bytes"]
OPTIONAL_NUM = ["drops.drop_fraction", "cost.cost_per_million_tokens", "hbm.usable_bytes", "hbm.capacity_bytes"]
CAPACITY_FACTOR = "moe.capacity_factor"


def _bounds(metric):
    """(lowest, highest) value of a numeric report field, from the report schema."""
    node = report_schema.node(metric)
    if node.get("type") != "number":
        raise KeyError(f"{metric} is not a number in sim/io/report.schema.json")
    return node.get("minimum", node.get("exclusiveMinimum", -math.inf)), node.get("maximum", math.inf)


# Their bounds (a metric the schema does not declare as a number fails here).
BOUNDS = {k: _bounds(k) for k in REQUIRED + OPTIONAL_NUM}


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _sweep_file(results_path):
    """The sweep.json beside the results, or None if absent or unusable."""
    path = os.path.join(os.path.dirname(os.path.abspath(results_path)), "sweep.json")
    try:
        with open(path, encoding="utf-8") as f:
            sweep = json.load(f)
    except (OSError, ValueError):
        return None
    return sweep if isinstance(sweep, dict) else None


def _axis_order(sweep):
    """Override paths in sweep-file order."""
    if sweep is None:
        return None
    order = []
    if isinstance(sweep.get("axes"), dict):
        order = list(sweep["axes"])
    elif isinstance(sweep.get("points"), list):
        for point in sweep["points"]:
            if isinstance(point, dict):
                order += [k for k in point if k not in order]
    return order or None


class Sweep:
    def __init__(self, path, name, rows, failed, paths):
        self.path = path
        self.name = name
        self.rows = rows          # successful rows: {"point", "overrides", "metrics"}
        self.failed = failed      # number of rows with status != ok
        self.paths = paths        # override paths that vary, in sweep order

    def has(self, metric):
        return any(_is_num(r["metrics"].get(metric)) for r in self.rows)

    def suffix(self):
        return f"\n({self.failed} failed point{'s' if self.failed != 1 else ''} skipped)" if self.failed else ""


def load_sweep(path):
    lines = read_text(path, " (give DIR/results.jsonl)").splitlines()

    rows, failed, seen_paths = [], 0, []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"line {n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(path, f"{where}: not valid JSON: {e.msg} at column {e.colno}") from None
        if not isinstance(row, dict):
            raise InputError(path, f"{where}: expected a JSON object")
        point = row.get("point")
        if not isinstance(point, int) or isinstance(point, bool) or point < 0:
            raise InputError(path, f"{where}: $.point: {'missing' if point is None else 'expected an integer >= 0'}")
        status = row.get("status")
        if not isinstance(status, str):
            raise InputError(path, f"{where}: $.status: {'missing' if status is None else 'expected a string'}")
        overrides = row.get("overrides")
        if not isinstance(overrides, dict):
            raise InputError(path, f"{where}: $.overrides: {'missing' if overrides is None else 'expected an object'}")
        seen_paths += [k for k in overrides if k not in seen_paths]
        if status != "ok":
            failed += 1
            continue
        metrics = row.get("metrics")
        if not isinstance(metrics, dict):
            raise InputError(path, f"{where}: $.metrics: {'missing' if metrics is None else 'expected an object'}")
        for key in REQUIRED:
            if key not in metrics:
                raise InputError(path, f'{where}: $.metrics["{key}"]: missing (add it to the sweep\'s "metrics")')
        for key in REQUIRED + OPTIONAL_NUM:
            v = metrics.get(key)
            lo, hi = BOUNDS[key]
            if v is not None and (not _is_num(v) or not lo <= v <= hi):
                bounds = f"in [{lo}, {hi}]" if hi < math.inf else f">= {lo}"
                raise InputError(path, f'{where}: $.metrics["{key}"]: expected a number {bounds} or null')
        fits = metrics.get("hbm.fits")
        if fits is not None and not isinstance(fits, bool):
            raise InputError(path, f'{where}: $.metrics["hbm.fits"]: expected true, false or null')
        rows.append({"point": point, "overrides": overrides, "metrics": metrics})
    if not rows:
        raise InputError(path, "no successful points to draw" + (f" ({failed} failed)" if failed else " (empty file)"))
    rows.sort(key=lambda r: r["point"])

    sweep_file = _sweep_file(path)
    order = _axis_order(sweep_file) or []
    paths = [p for p in order if p in seen_paths] + [p for p in seen_paths if p not in order]
    # Keep only overrides that take more than one value (a constant override is not an axis).
    varying = [p for p in paths if len({_key(r["overrides"].get(p)) for r in rows}) > 1]
    name = sweep_file.get("name") if sweep_file is not None else None
    if not isinstance(name, str) or not name:
        name = os.path.basename(os.path.dirname(os.path.abspath(path))) or path
    return Sweep(path, name, rows, failed, varying or paths)


def _key(value):
    return json.dumps(value, sort_keys=True)


def _sort_key(value):
    if _is_num(value):
        return (0, float(value), "")
    if value is None or isinstance(value, str):
        return (1, 0.0, str(value))
    return (2, 0.0, _key(value))


def fmt_value(value):
    if isinstance(value, dict):
        return str(value.get("name", "{…}"))
    if isinstance(value, (list, dict)):
        text = _key(value)
        return text if len(text) <= 24 else text[:23] + "…"
    return str(value)


def choose_axes(sweep, x, group):
    """-> (x path, [group paths]) after checking --x / --group against the sweep's overrides."""
    known = sweep.paths
    listed = ", ".join(known) if known else "none"
    for option, value in (("--x", x), ("--group", group)):
        if value is not None and value not in known and not any(value in r["overrides"] for r in sweep.rows):
            raise InputError(sweep.path, f"{option} {value}: not an override path of this sweep (overrides: {listed})")
    if x is None:
        if not known:
            raise InputError(sweep.path, "the points have no overrides: nothing to put on the x axis")
        x = known[0]
    if group == x:
        raise InputError(sweep.path, f"--group {group}: the same path as the x axis")
    others = [p for p in known if p != x]
    if group is None:
        groups = others
    else:
        groups = [group] + [p for p in others if p != group]
    return x, groups


# ---------------------------------------------------------------- figures

def _series(sweep, x, groups, metric, scale=1.0):
    """{group tuple: [(x value, y, row)]}, x values sorted; rows with a null metric are left out."""
    from collections import OrderedDict
    out = OrderedDict()
    rows = sorted(sweep.rows, key=lambda r: [_sort_key(r["overrides"].get(g)) for g in groups])
    for r in rows:
        y = metric(r["metrics"]) if callable(metric) else r["metrics"].get(metric)
        if not _is_num(y):
            continue
        gkey = tuple(_key(r["overrides"].get(g)) for g in groups)
        out.setdefault(gkey, []).append((r["overrides"].get(x), y * scale, r))
    for pts in out.values():
        pts.sort(key=lambda p: _sort_key(p[0]))
    return out


def _group_label(row, groups):
    return ", ".join(f"{g}={fmt_value(row['overrides'].get(g))}" for g in groups) or "all points"


def _x_positions(sweep, x):
    values = sorted({_key(r["overrides"].get(x)): r["overrides"].get(x) for r in sweep.rows}.values(), key=_sort_key)
    return {_key(v): i for i, v in enumerate(values)}, values


def _line_figure(sweep, x, groups, metric, scale, ylabel, title, percent=False, hbm=False):
    from .style import CAPACITY_STYLE, EXTRA_COLORS, FIT_COLOR, GIB, USABLE_STYLE, new_figure
    import matplotlib.pyplot as plt

    fig = new_figure(9, 5.2)
    ax = fig.subplots()
    pos, values = _x_positions(sweep, x)
    series = _series(sweep, x, groups, metric, scale)
    colors = plt.get_cmap("tab10").colors + tuple(EXTRA_COLORS)
    n_over = 0
    for i, (gkey, pts) in enumerate(series.items()):
        xs = [pos[_key(p[0])] for p in pts]
        ys = [p[1] for p in pts]
        color = colors[i % len(colors)]
        # Groups often coincide (e.g. HBM barely depends on the capacity factor): shrinking
        # markers and varied dashes keep every line visible.
        ax.plot(xs, ys, marker="os^Dv"[i % 5], color=color, linewidth=1.8, markersize=max(3.0, 9.0 - 1.2 * i),
                linestyle=["-", "--", "-.", ":"][i % 4], label=_group_label(pts[0][2], groups))
        if hbm:
            over = [(xx, yy) for xx, yy, p in zip(xs, ys, pts) if p[2]["metrics"].get("hbm.fits") is False]
            n_over += len(over)
            if over:
                ax.scatter(*zip(*over), s=110, facecolors="none", edgecolors=FIT_COLOR, linewidths=1.8, zorder=3)
    if hbm:
        known = False
        for metric_name, style, label in (("hbm.usable_bytes", USABLE_STYLE, "Usable (capacity − reserve)"),
                                          ("hbm.capacity_bytes", CAPACITY_STYLE, "Capacity")):
            distinct = {r["metrics"].get(metric_name) for r in sweep.rows if _is_num(r["metrics"].get(metric_name))}
            if len(distinct) == 1:
                value = distinct.pop() / GIB
                ax.axhline(value, label=f"{label}: {value:,.1f} GiB", **style)
                known = True
        if n_over:
            ax.scatter([], [], s=110, facecolors="none", edgecolors=FIT_COLOR, linewidths=1.8,
                       label="Does not fit in HBM")
        ax.set_ylim(bottom=0)
        if not known:
            ax.text(0.01, 0.01, "HBM capacity not in the results (add hbm.usable_bytes / hbm.capacity_bytes "
                    "to the sweep's metrics)", transform=ax.transAxes, fontsize=7, color="#555555")
    ax.set_xticks(range(len(values)), [fmt_value(v) for v in values])
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    if percent:
        ax.set_ylim(bottom=0)
    ax.set_title(title + sweep.suffix())
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title=", ".join(groups) if len(groups) > 1 else None)
    return fig


def a2a(sweep, x, groups):
    def total(m):
        d, c = m.get("breakdown_us.dispatch"), m.get("breakdown_us.combine")
        return d + c if _is_num(d) and _is_num(c) else None
    return _line_figure(sweep, x, groups, total, 1e-3, "Dispatch + combine all-to-all time (ms per step)",
                        f"All-to-all time vs {x} — {sweep.name}")


def link_utilization(sweep, x, groups):
    """The busiest link's utilisation during the step's all-to-alls, when the sweep recorded it."""
    if not sweep.has("invariants.max_link_utilization"):
        return None
    return _line_figure(sweep, x, groups, "invariants.max_link_utilization", 100.0, "Busiest link during all-to-all (% of bandwidth)",
                        f"Link utilisation vs {x} — {sweep.name}", percent=True)


def drops_varies(sweep):
    return len({r["metrics"].get("drops.drop_fraction") for r in sweep.rows
                if _is_num(r["metrics"].get("drops.drop_fraction"))}) > 1


def drops(sweep, x, groups):
    dx = CAPACITY_FACTOR if CAPACITY_FACTOR in sweep.paths else x
    dgroups = [g for g in [x] + groups if g != dx]
    return _line_figure(sweep, dx, dgroups, "drops.drop_fraction", 100.0, "Dropped expert assignments (%)",
                        f"Token drops vs {dx} — {sweep.name}", percent=True)


def hbm(sweep, x, groups):
    from .style import GIB
    return _line_figure(sweep, x, groups, "hbm.max_device_total_bytes", 1.0 / GIB,
                        "Max HBM per device (GiB)", f"Max HBM per device vs {x} — {sweep.name}", hbm=True)


def pareto_front(points):
    """points: [(cost, throughput)]; indices of the points no other point beats (lower cost and higher throughput)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def pareto(sweep, x, groups):
    from .style import EXTRA_COLORS, FIT_COLOR, new_figure
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    use_cost = sweep.has("cost.cost_per_million_tokens")
    if use_cost:
        xmetric, xscale, xlabel = "cost.cost_per_million_tokens", 1.0, "Cost per million tokens (USD)"
    else:
        xmetric, xscale, xlabel = "step_time_us", 1e-3, "Step time (ms)"
    pts = []
    for r in sweep.rows:
        cx, ty = r["metrics"].get(xmetric), r["metrics"].get("tokens_per_s_per_device")
        if _is_num(cx) and _is_num(ty):
            pts.append((cx * xscale, ty, r))
    fig = new_figure(9.5, 5.8)
    ax = fig.subplots()
    label_groups = [x] + groups
    colour_groups = groups if groups else [x]
    colors = plt.get_cmap("tab10").colors + tuple(EXTRA_COLORS)
    ckeys = sorted({tuple(_key(r["overrides"].get(g)) for g in colour_groups) for _, _, r in pts},
                   key=lambda k: [_sort_key(json.loads(v)) for v in k])
    cindex = {k: i for i, k in enumerate(ckeys)}
    fitting = [i for i, p in enumerate(pts) if p[2]["metrics"].get("hbm.fits") is not False]
    front = [fitting[j] for j in pareto_front([pts[i][:2] for i in fitting])]
    if len(front) > 1:
        fx, fy = zip(*sorted((pts[i][0], pts[i][1]) for i in front))
        ax.step(fx, fy, where="post", color="black", linewidth=1.4, alpha=0.6, zorder=1)
    front_set = set(front)
    markers = "os^Dvp<>h*"
    xpos, xvalues = _x_positions(sweep, x)
    n_over = 0
    for i, (cx, ty, r) in enumerate(pts):
        ck = tuple(_key(r["overrides"].get(g)) for g in colour_groups)
        color = colors[cindex[ck] % len(colors)]
        marker = markers[xpos[_key(r["overrides"].get(x))] % len(markers)]
        if r["metrics"].get("hbm.fits") is not False:
            ax.scatter(cx, ty, s=90 if i in front_set else 45, marker=marker, color=color, zorder=3,
                       edgecolors="black" if i in front_set else "none", linewidths=1.8)
        else:
            n_over += 1
            ax.scatter(cx, ty, s=45, marker=marker, facecolors="none", edgecolors=color, linewidths=1.2, zorder=3)
            ax.scatter(cx, ty, s=110, marker="x", color=FIT_COLOR, linewidths=1.0, zorder=4, alpha=0.8)
        if i in front_set:
            ax.annotate(", ".join(fmt_value(r["overrides"].get(g)) for g in label_groups), (cx, ty),
                        textcoords="offset points", xytext=(7, 5), fontsize=8, color="#333333")
    handles = [Line2D([], [], linestyle="", marker="o", color=colors[cindex[k] % len(colors)],
                      label=", ".join(f"{g}={fmt_value(json.loads(v))}" for g, v in zip(colour_groups, k)))
               for k in ckeys]
    handles += [Line2D([], [], linestyle="", marker=markers[i % len(markers)], color="#666666",
                       label=f"{x}={fmt_value(v)}") for i, v in enumerate(xvalues)]
    if front:
        handles.append(Line2D([], [], color="black", alpha=0.6, marker="o", markerfacecolor="white",
                              markeredgecolor="black", markeredgewidth=1.6, label="Pareto front (fits in HBM)"))
    if n_over:
        handles.append(Line2D([], [], linestyle="", marker="x", color=FIT_COLOR,
                              label=f"Does not fit in HBM ({n_over})"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              title="Front labelled " + ", ".join(label_groups), title_fontsize=8)
    ax.set_xlabel(xlabel + ("  (lower is better)"))
    ax.set_ylabel("Throughput per device (tokens/s)  (higher is better)")
    what = "cost" if use_cost else "step time"
    ax.set_title(f"Throughput vs {what} — {sweep.name}" + sweep.suffix())
    ax.grid(alpha=0.3)
    ax.margins(x=0.12, y=0.1)
    return fig
