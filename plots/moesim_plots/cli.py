"""Command line: check every input first, then render into a temporary folder
inside --out and rename the finished files into place."""
import argparse
import os
import shutil
import sys
import tempfile

from .report import InputError, load_report, load_timeline

PROG = "moesim-plots"


def _error(message, code=2):
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def _import_plotting():
    """numpy + matplotlib, from Debian's dist-packages if this python lacks them."""
    try:
        import matplotlib  # noqa: F401
        import numpy  # noqa: F401
    except ImportError:
        debian = "/usr/lib/python3/dist-packages"
        if os.path.isdir(debian) and debian not in sys.path:
            sys.path.append(debian)
            return _import_plotting()
        return False
    return True


def _parser():
    p = argparse.ArgumentParser(prog=PROG, description="Figures (PNG and SVG) from moesim report.json files.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="figures for one report")
    r.add_argument("report", metavar="REPORT.json")
    r.add_argument("--out", required=True, metavar="DIR", help="folder for the figures (created if missing)")
    r.add_argument("--timeline", metavar="FILE",
                   help="timeline.json to draw (default: timeline.json beside the report, if any)")
    r.add_argument("--timeline-devices", type=int, default=4, metavar="N",
                   help="devices to show in the timeline (default 4; the critical device is added)")
    c = sub.add_parser("compare", help="compare several reports")
    c.add_argument("reports", nargs="+", metavar="REPORT.json")
    c.add_argument("--out", required=True, metavar="DIR", help="folder for the figures (created if missing)")
    s = sub.add_parser("sweep", help="figures for a moesim sweep (results.jsonl)")
    s.add_argument("results", metavar="RESULTS.jsonl")
    s.add_argument("--out", required=True, metavar="DIR", help="folder for the figures (created if missing)")
    s.add_argument("--x", metavar="PATH", help="override path on the x axis (default: the sweep's first axis)")
    s.add_argument("--group", metavar="PATH",
                   help="override path drawn as one line per value (default: the other axes)")
    return p


def _jobs(args):
    """Loads and checks all inputs; returns [(file stem, figure builder)]."""
    from . import figures
    from .timeline import timeline

    if args.command == "sweep":
        from . import sweep
        data = sweep.load_sweep(args.results)
        x, groups = sweep.choose_axes(data, args.x, args.group)
        jobs = [("sweep_a2a", lambda: sweep.a2a(data, x, groups)),
                ("sweep_link_utilization", lambda: sweep.link_utilization(data, x, groups))]
        if sweep.drops_varies(data):
            jobs.append(("sweep_drops", lambda: sweep.drops(data, x, groups)))
        jobs += [("sweep_pareto", lambda: sweep.pareto(data, x, groups)),
                 ("sweep_hbm", lambda: sweep.hbm(data, x, groups))]
        return jobs
    if args.command == "compare":
        reports = [load_report(path) for path in args.reports]
        return [("compare_breakdown", lambda: figures.compare_breakdown(reports)),
                ("compare_hbm", lambda: figures.compare_hbm(reports))]
    report = load_report(args.report)
    jobs = [("step_breakdown", lambda: figures.step_breakdown(report)),
            ("hbm", lambda: figures.hbm(report))]
    if report.layer_by_kind:
        jobs.append(("layer_ops", lambda: figures.layer_ops(report)))
    if report.moe_layers:
        jobs.append(("expert_load_heatmap", lambda: figures.expert_heatmap(report)))
        jobs.append(("device_load_heatmap", lambda: figures.device_heatmap(report)))
    if report.capacity_factor is not None:
        jobs.append(("drops", lambda: figures.drops(report)))
    trace = args.timeline
    if trace is None and os.path.isfile(os.path.join(os.path.dirname(os.path.abspath(args.report)), "timeline.json")):
        trace = os.path.join(os.path.dirname(args.report), "timeline.json")
    if trace is not None:
        devices, streams, ops = load_timeline(trace)
        n = max(1, args.timeline_devices)
        jobs.append(("timeline", lambda: timeline(devices, streams, ops, report.name, n, report.critical_device,
                                                  report.step_us)))
    return jobs


def _render(jobs, out):
    import matplotlib.pyplot as plt
    from .style import DPI

    created = not os.path.isdir(out)
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".moesim-plots-", dir=out)
    try:
        names = []
        for stem, build in jobs:
            fig = build()
            if fig is None:  # a figure the input has no data for
                continue
            for ext in ("png", "svg"):
                fig.savefig(os.path.join(tmp, f"{stem}.{ext}"), dpi=DPI,
                            metadata={"Date": None} if ext == "svg" else None)
                names.append(f"{stem}.{ext}")
            plt.close(fig)
        for name in names:
            os.replace(os.path.join(tmp, name), os.path.join(out, name))
        return [os.path.join(out, name) for name in names]
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv):
    args = _parser().parse_args(argv)
    if not _import_plotting():
        return _error("numpy and matplotlib are needed: apt-get install python3-numpy python3-matplotlib", 1)
    try:
        jobs = _jobs(args)
    except InputError as e:
        return _error(str(e))
    try:
        written = _render(jobs, args.out)
    except OSError as e:
        return _error(f"{e.filename or args.out}: {e.strerror or e}")
    for path in written:
        print(path)
    return 0
