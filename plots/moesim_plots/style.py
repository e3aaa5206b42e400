"""Colours, labels and small helpers shared by the figures."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DPI = 120
GIB = float(1 << 30)

plt.rcParams.update({
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 9,
    "legend.framealpha": 0.9,
    "svg.hashsalt": "moesim-plots",  # stable ids in the SVGs
})

# One colour per time component, the same in every figure (timeline op kinds
# map onto these too).
COMPONENT_COLORS = {
    "attention": "#4C72B0",
    "moe_local": "#DA8BC3",
    "dense_ffn": "#DD8452",
    "shared_expert": "#55A868",
    "expert_compute": "#8172B3",
    "exposed_comm": "#C44E52",
    "other_compute": "#8C8C8C",
    "dispatch": "#E5AE38",
    "combine": "#64B5CD",
}

HBM_COLORS = {
    "weights": "#4C72B0",
    "redundant_expert_weights": "#8172B3",
    "kv_cache": "#55A868",
    "activations": "#DD8452",
    "a2a_buffers": "#C44E52",
    "workspace": "#8C8C8C",
    "gradients": "#DA8BC3",
    "optimizer_state": "#17BECF",
}
HBM_LABELS = {"kv_cache": "KV cache", "a2a_buffers": "All-to-all buffers"}
EXTRA_COLORS = ["#937860", "#DA8BC3", "#CCB974", "#17becf", "#bcbd22", "#7f7f7f"]

FIT_COLOR = "#D62728"
USABLE_STYLE = dict(color="#FF7F0E", linestyle="--", linewidth=1.6)
CAPACITY_STYLE = dict(color="black", linestyle="-", linewidth=1.4)


def hbm_category(key):
    """('weights_bytes') -> ('weights', 'Weights', colour)."""
    base = key[:-len("_bytes")] if key.endswith("_bytes") else key
    label = HBM_LABELS.get(base, base.replace("_", " ").capitalize())
    color = HBM_COLORS.get(base)
    if color is None:
        color = EXTRA_COLORS[sum(map(ord, base)) % len(EXTRA_COLORS)]
    return base, label, color


def hbm_order(keys):
    known = list(HBM_COLORS)
    return sorted(keys, key=lambda k: (known.index(hbm_category(k)[0]) if hbm_category(k)[0] in known else len(known), k))


def ranges(ids, limit=3):
    """[0,1,2,3,8,9] -> '0–3, 8–9'; long lists end in ', …'."""
    ids = sorted(ids)
    parts, start = [], ids[0]
    for a, b in zip(ids, ids[1:] + [None]):
        if b != a + 1:
            parts.append(str(start) if start == a else f"{start}–{a}")
            start = b
    return ", ".join(parts[:limit]) + (", …" if len(parts) > limit else "")


def ms(us):
    return us / 1000.0


def fmt_ms(value_ms):
    return f"{value_ms:,.1f} ms" if value_ms >= 10 else f"{value_ms:,.3g} ms"


def new_figure(width, height, **kw):
    return plt.figure(figsize=(width, height), layout="constrained", **kw)
