"""Plots of a Report, a comparison and a scaling study. matplotlib is imported lazily.

Every plot function takes ``ax=None`` (a new ``matplotlib.figure.Figure`` is made when it is None, without
pyplot, so nothing is ever shown and no GUI backend is needed) and returns the Axes it drew on. ``save_figure``
writes a PNG without the metadata (matplotlib version) that would make files differ between machines.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from ._axes import new_ax as _new_ax
from ._format import human
from .rf_plots import plot_receptive_field as _plot_rf
from .table import rf_value, spatial_input_size, top_layers

#: PNG resolution of written plots (small files for a repository, still legible)
DPI = 90


def save_figure(fig: Any, path: str, *, dpi: int = DPI) -> str:
    """Write ``fig`` to ``path`` (PNG by extension) with no Software/date metadata; returns ``path``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fmt = path.rsplit(".", 1)[-1].lower()
    metadata: dict[str, Any] = {"Software": None} if fmt == "png" else {}
    if fmt in ("pdf", "svg"):
        metadata = {"Creator": None, "Date": None} if fmt == "svg" else {"Creator": None, "Producer": None,
                                                                         "CreationDate": None}
    fig.savefig(path, dpi=dpi, metadata=metadata)
    return path


# ---------------------------------------------------------------------------------------------- one report
def shape_progression(report: Any) -> list[dict[str, Any]]:
    """The spatial size and channel count after each layer with an image-like (N, C, *spatial) output.

    Returns dicts ``{"index", "name", "channels", "spatial"}`` in execution order (``spatial`` is the largest
    spatial extent, e.g. 112 for a 1x64x112x112 output)."""
    out = []
    # only outputs shaped like the input (N, C, *spatial): a transformer's (N, tokens, dim) is not a feature map
    rank = len(report.inputs[0].shape) if report.inputs else 0
    if rank < 3:
        return out
    for i, r in enumerate(report.rows()):
        s = r["output_shape"]
        if s is not None and len(s) == rank:
            out.append({"index": i, "name": r["name"], "channels": s[1], "spatial": max(s[2:])})
    return out


def plot_shapes(report: Any, ax: Any = None) -> Any:
    """Spatial size (left axis, log2 scale) and channels (right axis) through the network, per layer.

    The spatial steps are labelled with their size (224 -> 112 -> 56 ...), so the downsampling schedule reads
    at a glance."""
    ax = _new_ax(ax, (9.0, 4.0))
    prog = shape_progression(report)
    if not prog:
        ax.text(0.5, 0.5, "no image-like (N, C, H, W) layer outputs", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    x = list(range(len(prog)))
    spatial = [p["spatial"] for p in prog]
    channels = [p["channels"] for p in prog]
    size = spatial_input_size(report)
    if size is not None:
        x = [-1] + x
        spatial = [size] + spatial
        channels = [report.inputs[0].shape[1]] + channels
    ax.step(x, spatial, where="post", color="tab:blue", label="spatial size")
    ax.set_yscale("log", base=2)
    ax.set_ylabel("spatial size (px)", color="tab:blue")
    ax.set_xlabel("layer (execution order, image-like outputs)")
    last = None
    for xi, s in zip(x, spatial):
        if s != last:
            ax.annotate(str(s), (xi, s), textcoords="offset points", xytext=(2, 4), fontsize=8, color="tab:blue")
            last = s
    ax2 = ax.twinx()
    ax2.step(x, channels, where="post", color="tab:orange", label="channels")
    ax2.set_ylabel("channels", color="tab:orange")
    ax.set_title(f"{report.model}: spatial size and channels through the network")
    ax.grid(True, alpha=0.3)
    return ax


def plot_top_layers(report: Any, metric: str = "macs", k: int = 10, ax: Any = None) -> Any:
    """Horizontal bars of the ``k`` layers with the largest ``metric`` (``macs`` or ``params``), largest on top,
    each labelled with its share of the model's total."""
    ax = _new_ax(ax, (8.0, 4.5))
    top = top_layers(report, metric, k)
    total = report.total_macs if metric == "macs" else report.total_params if metric == "params" else sum(
        r[metric] for r in report.rows())
    label = {"macs": "MACs", "params": "parameters", "flops": "FLOPs"}.get(metric, metric)
    if not top:
        ax.text(0.5, 0.5, f"no layer has {label}", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    names = [r["name"] for r in top][::-1]
    values = [r[metric] for r in top][::-1]
    bars = ax.barh(range(len(values)), values, color="tab:green" if metric == "params" else "tab:purple")
    ax.set_yticks(range(len(values)), names, fontsize=8)
    for b, v in zip(bars, values):
        share = f" ({100 * v / total:.1f}%)" if total else ""
        ax.text(b.get_width(), b.get_y() + b.get_height() / 2, f" {human(v)}{share}", va="center", fontsize=7)
    ax.set_xlabel(label)
    ax.set_xlim(0, max(values) * 1.3)
    ax.set_title(f"{report.model}: top {len(values)} layers by {label}")
    return ax


def plot_top_layers_pair(report: Any, k: int = 10) -> Any:
    """A figure with the top-k layers by MACs (left) and by parameters (right)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12.0, 0.35 * k + 1.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    plot_top_layers(report, "macs", k, ax=left)
    plot_top_layers(report, "params", k, ax=right)
    return fig


def rf_series(report: Any) -> list[dict[str, Any]]:
    """Receptive field and jump (effective stride) after each layer that has one, in execution order."""
    out = []
    for i, r in enumerate(report.rows()):
        rf, jump = rf_value(r["rf"]), rf_value(r["jump"])
        if rf is not None:
            out.append({"index": i, "name": r["name"], "rf": rf, "jump": jump})
    return out


def plot_receptive_field(report: Any, ax: Any = None) -> Any:
    """The receptive-field plot (:func:`layerscope.render.rf_plots.plot_receptive_field`)."""
    return _plot_rf(report, ax=_new_ax(ax, (9.0, 4.0)))


# ---------------------------------------------------------------------------------------------- files
#: the plots a report links, in the order they appear: key -> (file suffix, caption)
REPORT_PLOTS: dict[str, tuple[str, str]] = {
    "shapes": ("shapes", "Spatial size and channels through the network"),
    "receptive_field": ("rf", "Receptive field and jump per layer against the input size"),
    "top_layers": ("top", "Layers that dominate cost: top MACs and parameters"),
    "graph": ("graph", "Layer graph"),
}


def report_figure(report: Any, key: str, *, top_k: int = 10) -> Any:
    """The Figure of report plot ``key`` (``shapes``, ``receptive_field`` or ``top_layers``), or None when it
    cannot be drawn for this model (no spatial maps, no receptive field). Shared by the PNG and HTML reports."""
    from matplotlib.figure import Figure

    if key == "shapes":
        return plot_shapes(report).figure if shape_progression(report) else None
    if key == "receptive_field":
        if not rf_series(report):
            return None
        fig = Figure(figsize=(9.0, 4.0), layout="constrained")
        plot_receptive_field(report, ax=fig.add_subplot())
        return fig
    if key == "top_layers":
        return plot_top_layers_pair(report, top_k)
    raise ValueError(f"no figure for report plot {key!r}")


def layer_graph_figure(report: Any, plan: Any) -> Any:
    """The Figure of the layer graph as ``plan`` (:func:`layerscope.render.graph_plot.plan_layer_graph`) says:
    per layer or as blocks, at the plan's depth; None when the plan draws nothing. Always saved at :data:`DPI`
    (6 pt text is 7.5 px): the plan keeps the picture within a legible size instead of shrinking it."""
    from .graph_plot import plot_layer_graph

    if plan.view == "none":
        return None
    return plot_layer_graph(report, depth=plan.depth, view=plan.view).figure


def write_report_plots(report: Any, directory: str, stem: str, *, top_k: int = 10, graph_depth: int = 2,
                       which: Sequence[str] | None = None) -> dict[str, str]:
    """Write the report's plots as ``{directory}/{stem}_{suffix}.png``; returns key -> file name (relative to
    ``directory``, for links). A plot that cannot be drawn for this model (e.g. no receptive field) is left out.
    """
    from .graph_plot import plan_layer_graph

    which = list(REPORT_PLOTS) if which is None else list(which)
    written: dict[str, str] = {}
    for key in which:
        suffix, _ = REPORT_PLOTS[key]
        name = f"{stem}_{suffix}.png"
        if key in ("shapes", "receptive_field", "top_layers"):
            fig = report_figure(report, key, top_k=top_k)
            if fig is None:
                continue
        elif key == "graph":
            fig = layer_graph_figure(report, plan_layer_graph(report, graph_depth))
            if fig is None:  # too big even as blocks: the markdown points to the HTML report instead
                continue
        else:  # pragma: no cover - guarded by REPORT_PLOTS
            continue
        save_figure(fig, os.path.join(directory, name))
        written[key] = name
    return written


# ---------------------------------------------------------------------------------------------- many models
def pareto_mask(points: Sequence[Sequence[float | None]], maximize: Sequence[bool] | None = None) -> list[bool]:
    """True for points no other point dominates (at least as good on every objective, better on one).

    Objectives are minimised unless ``maximize[i]``. A point with a None/NaN objective is never on the
    frontier; objectives that are None/NaN for every point are ignored."""
    import math

    def bad(v: Any) -> bool:
        return v is None or (isinstance(v, float) and math.isnan(v))

    if not points:
        return []
    dims = len(points[0])
    maximize = list(maximize) if maximize is not None else [False] * dims
    used = [d for d in range(dims) if any(not bad(p[d]) for p in points)]
    keys = []
    for p in points:
        if any(bad(p[d]) for d in used):
            keys.append(None)
        else:
            keys.append([-float(p[d]) if maximize[d] else float(p[d]) for d in used])
    mask = []
    for i, a in enumerate(keys):
        if a is None:
            mask.append(False)
            continue
        dominated = False
        for j, b in enumerate(keys):
            if j == i or b is None:
                continue
            if all(bv <= av for av, bv in zip(a, b)) and any(bv < av for av, bv in zip(a, b)):
                dominated = True
                break
        mask.append(not dominated)
    return mask


#: axis names of the comparison columns, shared by the plot's axes, its title and the alt text that links it
AXIS_NAMES = {"params": "parameters", "macs": "MACs", "flops": "FLOPs"}


def pareto_title(x: str = "params", y: str = "macs") -> str:
    """The Pareto plot's title, also the alt text of the image in a markdown comparison (one string for both)."""
    return f"{AXIS_NAMES.get(y, y)} against {AXIS_NAMES.get(x, x)} (Pareto frontier: lower is better)"


def plot_pareto(table: Any, x: str = "params", y: str = "macs", *, label: str = "model", ax: Any = None) -> Any:
    """Scatter ``y`` against ``x`` (log-log), one point per row of ``table`` (a DataFrame from
    :func:`layerscope.compare` or :func:`layerscope.sweep`), with the Pareto frontier (lower is better on both)
    drawn as a step line and its points ringed. Point coordinates are the table's values unchanged."""
    ax = _new_ax(ax, (7.5, 5.5))
    df = table.dropna(subset=[x, y])
    xs = [float(v) for v in df[x]]
    ys = [float(v) for v in df[y]]
    ax.scatter(xs, ys, color="tab:blue", zorder=3, label="models")
    failed = [st == "failed" for st in df["status"]] if "status" in df.columns else [False] * len(xs)
    mask = [m and not f for m, f in zip(pareto_mask([(None, None) if f else (a, b)
                                                     for a, b, f in zip(xs, ys, failed)]), failed)]
    front = sorted((a, b) for a, b, m in zip(xs, ys, mask) if m)
    if front:
        ax.scatter([p[0] for p in front], [p[1] for p in front], s=140, facecolors="none", edgecolors="tab:red",
                   zorder=4, label="Pareto frontier")
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="tab:red", lw=1, zorder=2)
    names = AXIS_NAMES
    if all(v > 0 for v in xs + ys):
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(names.get(x, x))
    ax.set_ylabel(names.get(y, y))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(pareto_title(x, y))  # before the labels are placed: the title moves the layout
    if label in df.columns:
        # models at the same point (the same architecture from two sources) share one label
        labels: dict[tuple[float, float], list[str]] = {}
        for name, a, b in zip(df[label], xs, ys):
            labels.setdefault((a, b), []).append(str(name))
        # labels move inside the axes: they must not change the layout they are placed in
        anns = [ax.annotate(", ".join(group), (a, b), textcoords="offset points", xytext=(5, 3), fontsize=8,
                            in_layout=False) for (a, b), group in labels.items()]
        if anns:
            from ._layout import layout_renderer, repel_labels

            # models close in both numbers (regnet_y_400mf and efficientnet_b0) would print over each other
            repel_labels(ax, anns, layout_renderer(ax.figure))
    return ax


def plot_scaling(table: Any, *, fits: dict[str, tuple[float, float]] | None = None, title: str = "",
                 ax: Any = None) -> Any:
    """Log-log cost against input resolution (columns ``resolution``, ``macs``, ``activation_bytes``) with the
    fitted power laws ``cost = a * resolution**k`` drawn as dashed lines and their exponents ``k`` in the
    legend. ``fits``: column -> (k, a) from :func:`layerscope.scaling.fit_power_law`."""
    ax = _new_ax(ax, (7.0, 5.0))
    fits = dict(fits or {})
    res = [float(v) for v in table["resolution"]]
    for col, color, name in (("macs", "tab:purple", "MACs"), ("activation_bytes", "tab:orange",
                                                                "activation bytes")):
        if col not in table.columns:
            continue
        vals = [float(v) for v in table[col]]
        fit = fits.get(col)
        lab = name + (f" (exponent {fit[0]:.2f})" if fit else "")
        ax.plot(res, vals, "o-", color=color, label=lab)
        if fit:
            k, a = fit
            ax.plot(res, [a * r ** k for r in res], "--", color=color, lw=1, alpha=0.7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("input resolution (px)")
    ax.set_ylabel("cost")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "cost against resolution (log-log)")
    return ax


def plot_compound(table: Any, ax: Any = None) -> Any:
    """Measured MACs growth per step of a compound-scaled family against the rule's prediction
    ``(d1/d0) * (w1/w0)**2 * (r1/r0)**2`` (columns ``step``, ``measured_ratio``, ``predicted_ratio``)."""
    ax = _new_ax(ax, (7.5, 4.5))
    steps = [s for s in table["step"] if isinstance(s, str) and s]
    df = table[table["step"].isin(steps)]
    x = list(range(len(df)))
    width = 0.4
    ax.bar([i - width / 2 for i in x], [float(v) for v in df["measured_ratio"]], width, label="measured MACs ratio",
           color="tab:purple")
    ax.bar([i + width / 2 for i in x], [float(v) for v in df["predicted_ratio"]], width,
           label="depth x width^2 x resolution^2", color="tab:gray")
    if "predicted_ratio_layers" in df.columns:
        ax.plot(x, [float(v) for v in df["predicted_ratio_layers"]], "D", color="black", ms=5,
                label="same rule with the depth actually built")
    ax.axhline(2.0, ls="--", color="black", lw=1, label="2 (alpha*beta^2*gamma^2 ~ 1.92)")
    ax.set_xticks(x, list(df["step"]), rotation=30, fontsize=8)
    ax.set_ylabel("growth factor per step")
    ax.legend(fontsize=8)
    ax.set_title("compound scaling: MACs growth per step")
    return ax
