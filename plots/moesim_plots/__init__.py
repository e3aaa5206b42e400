"""moesim-plots: PNG/SVG figures from moesim report.json and timeline.json.

Entry point: plots/moesim_plots.py (see plots/README.md).
"""
