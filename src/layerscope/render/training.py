"""The "Training" section of a report: the memory timeline of one training step and the layers that save the
most activations. matplotlib is imported lazily; plot functions take ``ax=None`` and never show."""

from __future__ import annotations

from typing import Any

from ..training import KINDS

_COLORS = {"params": "#4c72b0", "buffers": "#8172b3", "grads": "#dd8452", "optimizer": "#937860",
           "activations": "#55a868", "workspace": "#c44e52"}


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def plot_training_memory(cost: Any, ax: Any = None) -> Any:
    """Live bytes after every op of forward, backward and step, stacked by kind, the peak marked."""
    from .plots import _new_ax

    ax = _new_ax(ax, figsize=(9.0, 4.5))
    xs = [p.index for p in cost.timeline]
    series = [[getattr(p, k) / 2**20 for p in cost.timeline] for k in KINDS]
    ax.stackplot(xs, *series, labels=list(KINDS), colors=[_COLORS[k] for k in KINDS], linewidth=0)
    peak = max(cost.timeline, key=lambda p: p.total)
    top = peak.total / 2**20
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(0, top * 1.35 if top > 0 else 1)  # headroom: the legend, the phase names and the peak label
    ax.axvline(peak.index, color="black", linewidth=0.8, linestyle="--")
    right = peak.index > xs[0] + 0.6 * (xs[-1] - xs[0])  # near the right edge: the label goes to its left
    ax.annotate(f"peak {_mib(peak.total)}\n({peak.phase}, {peak.op})", (peak.index, top),
                xytext=(-5 if right else 5, 12), textcoords="offset points", va="bottom",
                ha="right" if right else "left", fontsize=8)
    # the phases: a line where each begins, its name centred over its span at the top
    from matplotlib.transforms import blended_transform_factory

    spans: list[list[Any]] = []
    for p in cost.timeline:
        if not spans or spans[-1][0] != p.phase:
            spans.append([p.phase, p.index, p.index])
            if len(spans) > 1:
                ax.axvline(p.index, color="grey", linewidth=0.5)
        spans[-1][2] = p.index
    along = blended_transform_factory(ax.transData, ax.transAxes)
    for phase, a, b in spans:
        if phase in ("forward", "backward", "step") and b > a:
            ax.text((a + b) / 2, 0.97, phase, transform=along, ha="center", va="top", fontsize=8, color="#333")
    ax.set_xlabel("op of the training step")
    ax.set_ylabel("live MiB")
    ax.set_title(f"{cost.model}: training step memory (batch {cost.batch_size}, {cost.optimizer}, "
                 f"{cost.precision})")
    # the legend under the axes: inside, it would meet the peak label wherever the peak is
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=7, ncols=len(KINDS), frameon=False)
    return ax


def training_markdown(cost: Any, *, plot: str | None = None, top_k: int = 10,
                      fits: tuple[str, int] | None = None) -> str:
    """The "Training" section: peak and breakdown, backward cost, the timeline plot, top saved-activation layers;
    ``fits``: ``(memory as written, TrainingCost.max_batch_size of it)``."""
    out = ["## Training", "",
           f"One training step, batch {cost.batch_size}, {cost.optimizer}, {cost.precision}, measured on meta "
           f"tensors (`layerscope.training_cost`). Peak **{_mib(cost.peak_bytes)}** in {cost.peak_phase} "
           f"(after `{cost.peak_op}`).", "",
           "| kind | at the peak |", "|---|---:|"]
    out += [f"| {k} | {_mib(v)} |" for k, v in cost.breakdown.items()]
    out += ["", f"Forward MACs {cost.forward_macs:,}, backward MACs {cost.backward_macs:,} "
                f"(forward FLOPs {cost.forward_flops:,}, backward FLOPs {cost.backward_flops:,}"
                + ("" if cost.complete else ", partial") + ").", ""]
    if fits is not None:
        memory, best = fits
        out += [f"The largest batch that fits {memory}: **{best:,}** (`TrainingCost.max_batch_size`, verified by "
                "a trace at it and at one more)." if best else
                f"No batch fits {memory}: batch 1 already needs more (`TrainingCost.max_batch_size` is 0).", ""]
    if plot:
        out += ["![training step memory](" + plot + ")", ""]
    top = cost.top_saved(top_k)
    if top:
        out += [f"Top {len(top)} layers by activations saved for backward (each tensor counted once, in the "
                "first layer that saves it):", "", "| layer | type | saved | backward MACs |", "|---|---|---:|---:|"]
        out += [f"| {x.label} | {x.type} | {_mib(x.saved_bytes)} | {x.backward_macs:,} |" for x in top]
        out.append("")
    return "\n".join(out)
