"""Label placement that measures text: tick labels that would collide are thinned out, annotations and scatter
labels are put where their box overlaps no other label, marker, line or the legend.

Everything here works on display-space bounding boxes measured with an Agg renderer after the figure's layout
has run (``Figure.draw_without_rendering``), so the decisions hold for any model, label length, figure size or
DPI: text and axes scale together, overlap does not depend on the resolution a figure is saved at.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

#: pixels of clear space required between two labels (at the figure's own dpi)
PAD = 2.0
#: candidate offsets (points) of a label from its anchor, nearest first: (dx, dy, ha, va)
_AROUND = ((5, 3, "left", "bottom"), (5, -3, "left", "top"), (-5, 3, "right", "bottom"),
           (-5, -3, "right", "top"), (0, 6, "center", "bottom"), (0, -6, "center", "top"))


def layout_renderer(fig: Any) -> Any:
    """Run ``fig``'s layout (constrained layout moves the axes) and return an Agg renderer of its size and dpi to
    measure text with. The figure's own canvas is left alone (it may be a notebook's)."""
    from matplotlib.backends.backend_agg import RendererAgg

    fig.draw_without_rendering()
    w, h = fig.get_size_inches() * fig.dpi
    return RendererAgg(max(1, int(w)), max(1, int(h)), fig.dpi)


def boxes_overlap(a: Any, b: Any, pad: float = PAD) -> bool:
    """True when display boxes ``a`` and ``b`` (``Bbox``) come closer than ``pad`` pixels."""
    return a.x0 < b.x1 + pad and b.x0 < a.x1 + pad and a.y0 < b.y1 + pad and b.y0 < a.y1 + pad


def segment_hits_box(p: Sequence[float], q: Sequence[float], box: Any, pad: float = PAD) -> bool:
    """True when the segment ``p``-``q`` (display coordinates) passes through ``box`` grown by ``pad``
    (Liang-Barsky clipping)."""
    x0, y0, x1, y1 = box.x0 - pad, box.y0 - pad, box.x1 + pad, box.y1 + pad
    dx, dy = q[0] - p[0], q[1] - p[1]
    lo, hi = 0.0, 1.0
    for den, num in ((-dx, p[0] - x0), (dx, x1 - p[0]), (-dy, p[1] - y0), (dy, y1 - p[1])):
        if den == 0:
            if num < 0:
                return False
            continue
        t = num / den
        if den < 0:
            lo = max(lo, t)
        else:
            hi = min(hi, t)
        if lo > hi:
            return False
    return True


def polyline_hits_box(points: Any, box: Any, pad: float = PAD) -> bool:
    """True when any segment of the display-space polyline ``points`` (N x 2) passes through ``box``."""
    pts = [tuple(p) for p in points if p[0] == p[0] and p[1] == p[1]]  # NaN breaks (gaps) dropped
    if len(pts) == 1:
        return segment_hits_box(pts[0], pts[0], box, pad)
    return any(segment_hits_box(a, b, box, pad) for a, b in zip(pts, pts[1:]))


def line_paths(ax: Any, exclude: Iterable[Any] = ()) -> list[Any]:
    """Display-space vertices of every visible line of ``ax`` (curves, axhline/axvline), ``exclude`` left out."""
    skip = {id(a) for a in exclude}
    out = []
    for line in ax.get_lines():
        if line.get_visible() and id(line) not in skip and len(line.get_xydata()):
            out.append(line.get_transform().transform(line.get_xydata()))
    return out


def thinned_tick_labels(ax: Any, renderer: Any, *, axis: str = "x") -> list[str]:
    """The tick labels of ``axis`` in tick order, with ``""`` for each label whose box would overlap a label
    already kept (the caller sets them again with its own text properties: the ticks stay, unlabelled)."""
    which = ax.xaxis if axis == "x" else ax.yaxis
    locs = list(which.get_majorticklocs())
    labels = [t.label1 for t in which.get_major_ticks()][:len(locs)]
    texts, kept = [], []
    for loc, lab in sorted(zip(locs, labels), key=lambda ll: ll[0]):
        box = lab.get_window_extent(renderer) if lab.get_text() and lab.get_visible() else None
        if box is None or any(boxes_overlap(box, k) for k in kept):
            texts.append((loc, ""))
        else:
            kept.append(box)
            texts.append((loc, lab.get_text()))
    return [t for _, t in texts]


def _candidates(scales: Sequence[float]) -> list[tuple[float, float, str, str]]:
    return [(dx * s, dy * s, ha, va) for s in scales for dx, dy, ha, va in _AROUND]


def place_label(ax: Any, ann: Any, renderer: Any, *, avoid_boxes: Sequence[Any] = (),
                avoid_lines: Sequence[Any] = (), soft_lines: Sequence[Any] = (),
                candidates: Sequence[tuple[float, float, str, str]] | None = None) -> Any:
    """Move annotation ``ann`` (``textcoords="offset points"``) to the first candidate offset where its box stays
    inside the axes and overlaps none of ``avoid_boxes`` (other labels, markers, the legend) and none of the
    polylines ``avoid_lines``; among those, fewest crossings of ``soft_lines``. When no candidate is clear, the
    one with the fewest overlaps. Returns the label's final box."""
    frame = ax.get_window_extent(renderer)
    best = None
    for k, (dx, dy, ha, va) in enumerate(candidates or _candidates((1, 1.6, 2.4, 3.4))):
        ann.set_position((dx, dy))
        ann.set_ha(ha)
        ann.set_va(va)
        box = ann.get_window_extent(renderer)
        outside = box.x0 < frame.x0 + PAD or box.x1 > frame.x1 - PAD or box.y0 < frame.y0 + PAD or \
            box.y1 > frame.y1 - PAD
        hard = int(outside) * 100 + sum(boxes_overlap(box, b) for b in avoid_boxes) + \
            sum(polyline_hits_box(p, box) for p in avoid_lines)
        soft = sum(polyline_hits_box(p, box) for p in soft_lines)
        score = (hard, soft, k)
        if best is None or score < best[0]:
            best = (score, (dx, dy, ha, va))
        if hard == 0 and soft == 0:
            break
    assert best is not None
    dx, dy, ha, va = best[1]
    ann.set_position((dx, dy))
    ann.set_ha(ha)
    ann.set_va(va)
    return ann.get_window_extent(renderer)


def marker_boxes(ax: Any, renderer: Any) -> list[Any]:
    """Display boxes of every scatter marker of ``ax`` (one per offset of each PathCollection)."""
    from matplotlib.collections import PathCollection
    from matplotlib.transforms import Bbox

    out = []
    for coll in ax.collections:
        if not isinstance(coll, PathCollection) or not coll.get_visible():
            continue
        sizes = coll.get_sizes()
        offsets = coll.get_offset_transform().transform(coll.get_offsets())
        for i, (x, y) in enumerate(offsets):
            s = sizes[i % len(sizes)] if len(sizes) else 36.0
            r = renderer.points_to_pixels(s ** 0.5) / 2  # s is the marker area in points^2
            out.append(Bbox.from_extents(x - r, y - r, x + r, y + r))
    return out


def repel_labels(ax: Any, annotations: Sequence[Any], renderer: Any) -> list[Any]:
    """Place scatter labels one by one so that no two labels, no label and marker, and no label and the legend
    overlap, and every label stays inside the axes. Returns the labels' boxes, in order. The labels should be
    made with ``in_layout=False`` (they move inside the axes; they must not change the layout they are placed in)."""
    legend = ax.get_legend()
    fixed = marker_boxes(ax, renderer) + ([legend.get_window_extent(renderer)] if legend is not None else [])
    lines = line_paths(ax)
    placed: list[Any] = []
    for ann in annotations:
        placed.append(place_label(ax, ann, renderer, avoid_boxes=fixed + placed, soft_lines=lines))
    return placed
