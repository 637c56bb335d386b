"""Receptive-field plots and the markdown section: read a Report, return Axes or strings, never show/print.

- :func:`plot_receptive_field`: field size and jump per layer (log scale) with the input size as a line, so a
  reader sees where the field outgrows the image and where it becomes global;
- :func:`plot_rf_boxes`: the input boxes seen by a few output units, drawn over an input-sized grid;
- :func:`receptive_field_markdown`: final field, where it exceeds the input, where it goes global.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..fields import FieldSummary, spatial_axis_names

__all__ = ["plot_receptive_field", "plot_rf_boxes", "receptive_field_markdown", "receptive_field_summary"]

_COLORS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


def _num(v: Any) -> str:
    if v is None:
        return "?"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else f"{v:.2f}".rstrip("0").rstrip(".")
    return str(v)


def _per_axis(values: Sequence[Any]) -> str:
    """``(427, 427) -> '427'``, ``(31, 15) -> '31x15'``."""
    vals = list(values)
    if not vals:
        return "-"
    return _num(vals[0]) if all(v == vals[0] for v in vals) else "x".join(_num(v) for v in vals)


def _summary(report: Any) -> FieldSummary | None:
    return report.fields


def _series(report: Any) -> list[dict[str, Any]]:
    """Per node with a field (execution order): local rf and jump per axis, and whether it is global."""
    fs = _summary(report)
    if fs is None or not fs.n_axes:
        return []
    out = []
    for node in report.nodes:
        c = report.columns.get(node.id)
        if c is None or "local_rf" not in c or all(v is None for v in c["local_rf"]):
            continue
        out.append({"id": node.id, "name": node.name, "rf": c["local_rf"], "jump": c["jump"], "global": c["global"]})
    return out


def _new_ax(ax: Any, size: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figure registry

    return Figure(figsize=size, layout="constrained").add_subplot()


# ============================================================================================ plots
def plot_receptive_field(report: Any, ax: Any = None) -> Any:
    """Local receptive field and jump per layer (log scale), the input size as a horizontal line.

    The field plotted is the local one (global-context branches such as SE gates ignored); the layer where
    the output becomes global is marked with a vertical line, and so is the first layer whose field exceeds
    the input.
    """
    ax = _new_ax(ax, (9.0, 4.0))
    series = _series(report)
    an = _summary(report)
    if not series or an is None:
        ax.text(0.5, 0.5, "receptive field not available", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    names = spatial_axis_names(an.n_axes)
    x = list(range(len(series)))
    distinct = [a for a in range(an.n_axes) if any(s["rf"][a] != s["rf"][0] for s in series)]
    axes_drawn = [0] + distinct
    for k, a in enumerate(axes_drawn):
        label = "receptive field" + (f" ({names[a]})" if len(axes_drawn) > 1 else "")
        ax.plot(x, [s["rf"][a] for s in series], color="tab:red", ls="-" if k == 0 else ":", label=label)
        ax.plot(x, [s["jump"][a] for s in series], color="tab:gray", ls="-" if k == 0 else ":",
                label="jump (effective stride)" + (f" ({names[a]})" if len(axes_drawn) > 1 else ""))
    sizes = sorted(set(an.input_size))
    for size in sizes:
        ax.axhline(size, ls="--", color="black", lw=1, label=f"input size {size} px")
    first_exceed = next((i for i, s in enumerate(series)
                         if any(r is not None and r > e for r, e in zip(s["rf"], an.input_size))), None)
    exceed_label = None
    if first_exceed is not None:
        ax.axvline(first_exceed, color="tab:red", lw=0.8, ls=":", alpha=0.7)
        exceed_label = ax.annotate(f"exceeds input: {series[first_exceed]['name']}", (first_exceed, an.input_size[0]),
                                   textcoords="offset points", xytext=(4, 6), fontsize=7, color="tab:red",
                                   in_layout=False)  # it moves inside the axes: it must not move the layout
    first_global = next((i for i, s in enumerate(series) if s["global"]), None)
    if first_global is not None:
        ax.axvspan(first_global, len(series) - 1 if len(series) > 1 else first_global + 0.5, color="tab:blue",
                   alpha=0.08, label=f"global from {series[first_global]['name']}")
    ax.set_yscale("log", base=2)
    ax.set_xlabel("layer (execution order)")
    ax.set_ylabel("input pixels")
    # a few tick labels where the jump changes (stage boundaries) keep the axis readable
    ticks, last = [], None
    for i, s in enumerate(series):
        if s["jump"][0] != last:
            ticks.append(i)
            last = s["jump"][0]
    legend = ax.legend(fontsize=7, loc="upper left")
    ax.set_title(f"{report.model}: receptive field per layer")  # before the labels: the title moves the layout
    if len(ticks) <= 12:
        _place_rf_labels(ax, ticks, [series[i]["name"] for i in ticks], exceed_label, legend)
    elif exceed_label is not None:
        _place_rf_labels(ax, None, None, exceed_label, legend)
    return ax


def _place_rf_labels(ax: Any, ticks: list[int] | None, names: list[str] | None, exceed_label: Any,
                     legend: Any) -> None:
    """Stage-boundary tick labels, vertical, with the ones that would print over a neighbour left blank (the
    stem's conv and pool are often a few layers apart); the "exceeds input" note moved off the curves and the
    legend. Both measured on the laid-out figure, so this holds for any model and figure size."""
    from ._layout import layout_renderer, line_paths, place_label, thinned_tick_labels

    style = dict(rotation=90, ha="center", va="top", fontsize=7)
    if ticks is not None and names is not None:
        ax.set_xticks(ticks, names, **style)
        renderer = layout_renderer(ax.figure)
        ax.set_xticks(ticks, thinned_tick_labels(ax, renderer), **style)
    if exceed_label is None:
        return
    renderer = layout_renderer(ax.figure)
    # clear of every curve and of the marker line it labels; next to the crossing point when possible
    place_label(ax, exceed_label, renderer, avoid_boxes=[legend.get_window_extent(renderer)],
                avoid_lines=line_paths(ax), candidates=[(dx * s, dy * s, ha, va) for s in (1, 2, 4, 7, 11)
                                                         for dx, dy, ha, va in ((4, 6, "left", "bottom"),
                                                                                (4, -6, "left", "top"),
                                                                                (-4, 6, "right", "bottom"),
                                                                                (-4, -6, "right", "top"))])


def plot_rf_boxes(report: Any, units: Sequence[Sequence[int]] | None = None, ax: Any = None) -> Any:
    """Input boxes of a few output units (default: first, centre and last) over an input-sized grid.

    ``units`` are output indices, one per spatial axis. Boxes are the local fields (not clipped): parts that
    hang over the border are padding. 2-d and 3-d inputs draw the last two axes; 1-d inputs draw bars.
    """
    ax = _new_ax(ax, (6.0, 6.0))
    fs = _summary(report)
    if fs is None or fs.boxes_of is None:
        ax.text(0.5, 0.5, "no spatial output unit to draw", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    rf, out_size = fs.boxes_of, fs.boxes_size
    n = len(out_size)
    boxes = list(fs.boxes)
    if units is not None:
        boxes = []
        for u in units:
            try:
                boxes.append((tuple(u), rf.local_region(*u)))
            except ValueError:  # the field along an axis is unknown
                continue
    from matplotlib.patches import Rectangle

    size = rf.input_size
    if n == 1:
        ax.add_patch(Rectangle((0, -0.5), size[0], 0.4 + len(boxes), fill=True, color="0.92", zorder=0))
        for k, (u, ((lo, hi),)) in enumerate(boxes):
            c = _COLORS[k % len(_COLORS)]
            ax.add_patch(Rectangle((lo, k), hi - lo, 0.6, fill=False, color=c, lw=1.5, label=f"unit {u}"))
        lo_all = min([0] + [b[1][0][0] for b in boxes])
        hi_all = max([size[0]] + [b[1][0][1] for b in boxes])
        ax.set_xlim(lo_all - 1, hi_all + 1)
        ax.set_ylim(-1, len(boxes) + 0.5)
        ax.set_yticks([])
        ax.set_xlabel("input position (px)")
    else:
        h, w = size[-2], size[-1]
        ax.add_patch(Rectangle((0, 0), w, h, color="0.92", zorder=0, label=f"input {h}x{w}"))
        step = rf.jump[-1] if isinstance(rf.jump[-1], (int, float)) and rf.jump[-1] else None
        if step and w / step <= 64 and h / step <= 64:  # the grid of unit centres, when it is legible
            from matplotlib.collections import LineCollection

            ys, xs = float(rf.local_start[-2]), float(rf.local_start[-1])
            lines = [[(xs + i * step + 0.5, 0), (xs + i * step + 0.5, h)] for i in range(out_size[-1])]
            lines += [[(0, ys + i * rf.jump[-2] + 0.5), (w, ys + i * rf.jump[-2] + 0.5)] for i in range(out_size[-2])]
            ax.add_collection(LineCollection(lines, colors="0.8", linewidths=0.5, zorder=1))
        lo_x, hi_x, lo_y, hi_y = 0.0, float(w), 0.0, float(h)
        for k, (u, region) in enumerate(boxes):
            (y0, y1), (x0, x1) = region[-2], region[-1]
            c = _COLORS[k % len(_COLORS)]
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color=c, lw=1.5, zorder=3,
                                   label=f"unit {u}: {_num(y1 - y0)}x{_num(x1 - x0)} px"))
            ax.plot([(x0 + x1) / 2], [(y0 + y1) / 2], "o", color=c, ms=3, zorder=4)
            lo_x, hi_x = min(lo_x, x0), max(hi_x, x1)
            lo_y, hi_y = min(lo_y, y0), max(hi_y, y1)
        pad = 0.02 * max(hi_x - lo_x, hi_y - lo_y)
        ax.set_xlim(lo_x - pad, hi_x + pad)
        ax.set_ylim(hi_y + pad, lo_y - pad)  # image convention: y grows downwards
        ax.set_aspect("equal")
        ax.set_xlabel("x (px)")
        ax.set_ylabel("y (px)")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(f"{report.model}: receptive fields of {rf.name} units")
    return ax


# ============================================================================================ text
def receptive_field_summary(report: Any) -> str:
    """One line: the output's field, global or not, and whether it exceeds the input."""
    rf = report.receptive_field
    if rf is None or not rf.size or all(s is None for s in rf.local_size):
        return ""
    local = f"{_per_axis(rf.local_size)} px (jump {_per_axis(rf.jump)})"
    text = (f"global from `{rf.global_from}` on; local field {local}" if rf.is_global
            else f"{local}")
    if any(rf.exceeds_input):
        text += f", larger than the {_per_axis(rf.input_size)} px input"
    return text


def receptive_field_markdown(report: Any) -> str:
    """The receptive-field section body (no heading): final field, where it exceeds the input, where it
    goes global, merge findings and the field at each change of jump."""
    an = _summary(report)
    rf = report.receptive_field
    if an is None or not an.n_axes or rf is None:
        return ""
    names = spatial_axis_names(an.n_axes)
    lines = [f"| at the output | {' | '.join(names)} |", "|---|" + "---:|" * len(names)]
    lines.append("| local field (px) | " + " | ".join(_num(v) for v in rf.local_size) + " |")
    lines.append("| jump (px) | " + " | ".join(_num(v) for v in rf.jump) + " |")
    lines.append("| centre of unit 0 (px) | " + " | ".join(_num(v) for v in rf.local_start) + " |")
    lines.append("| input (px) | " + " | ".join(str(v) for v in rf.input_size) + " |")
    lines.append("")
    if rf.is_global:
        lines.append(f"- **Global**: from `{rf.global_from}` on, every output depends on the whole input. The local "
                     f"field of the convolutional path (global-context branches ignored) is "
                     f"{_per_axis(rf.local_size)} px.")
    else:
        lines.append(f"- Each output unit sees {_per_axis(rf.local_size)} px of the input; neighbouring units are "
                     f"{_per_axis(rf.jump)} px apart.")
    exceed = [d for d in report.diagnostics if d.code == "LS403"]
    if exceed:
        for d in exceed:
            lines.append(f"- The field exceeds the input from `{d.module}` on (axes {', '.join(d.data.get('axes', []))}): "
                         "deeper units see zero padding on both sides.")
    else:
        lines.append("- The field stays within the input.")
    if not rf.exact:
        lines.append("- Part of the field is unknown (an op without a receptive-field rule, or a layout change that "
                     "could not be followed); see LS404.")
    merges = [d for d in report.diagnostics if d.code in ("LS401", "LS402")]
    for d in merges:
        lines.append(f"- **{d.code}** `{d.module}`: {d.text.replace('|', '/')}")
    # the field at each change of jump: one row per stage
    rows, last = [], None
    for s in _series(report):
        if s["jump"] == last:
            continue
        last = s["jump"]
        node = report.layer_graph[s["id"]]
        shape = "x".join(str(v) for v in node.outputs[0].shape) if node.outputs else ""
        rows.append(f"| `{s['name']}` | {shape} | {_per_axis(s['rf'])} | {_per_axis(s['jump'])} |")
    if rows:
        lines += ["", "Where the jump (effective stride) changes:", "", "| layer | output | local field | jump |",
                  "|---|---|---:|---:|"] + rows
    return "\n".join(lines)
