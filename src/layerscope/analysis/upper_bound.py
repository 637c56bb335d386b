"""Data-dependent sizes traced at their upper bound (LS130), and a detector's cost per stage (LS131).

The tracer marks every op whose output size depends on the data (``nonzero``, ``x[mask]``, ``where(cond)``,
``unique``, NMS...) with ``attrs["upper_bound"]``: the size it assumed (every element kept) and why. Here each
distinct assumption (op + module + source line) becomes one info finding; the report's status is then
``"upper-bound"``: the totals are the worst case, reached when the real run keeps everything up to the caps.
"""

from __future__ import annotations

from typing import Any

from ..diagnostics import Diagnostic, make
from ..graph import Graph
from .context import Context, analyzer


def assumptions(graph: Graph) -> list[tuple[Any, Any, dict]]:
    """``(node, op, assumption)`` for every op traced at its upper bound, in execution order."""
    return [(node, op, op.attrs["upper_bound"]) for node in graph for op in node.ops if "upper_bound" in op.attrs]


@analyzer("LS130", "LS131")
def analyze_upper_bound(ctx: Context) -> list[Diagnostic]:
    groups: dict[tuple, list[tuple[Any, Any, dict]]] = {}
    for node, op, why in assumptions(ctx.graph):
        module = node.name if node.kind == "module" else (node.scope or None)
        groups.setdefault((op.op, module, node.source), []).append((node, op, why))
    out: list[Diagnostic] = []
    for (op, module, source), items in groups.items():
        node, _, why = items[0]
        sizes = [w.get("bound", 0) for _, _, w in items]
        shapes = [tuple(w.get("assumed", [[]])[0]) for _, _, w in items]
        at = f" at {_short(source)}" if source else ""
        calls = f" ({len(items)} calls, sizes {min(sizes)}..{max(sizes)})" if len(items) > 1 else ""
        out.append(make(
            "LS130", f"{op}(){at}: its output size depends on the data; traced at its upper bound "
            f"{shapes[0]}: {why.get('why', 'every element kept')}{calls}",
            hint="the totals are the worst case (reached when nothing is filtered out before the next cap, "
                 "e.g. topk or slicing to a maximum count); a real input may keep fewer",
            module=module, source=source, node=node.id, op=op, assumed=[list(s) for s in shapes],
            bounds=sizes, calls=len(items),
        ))
    out.extend(_detector_stages(ctx))
    return out


def _short(source: str) -> str:
    """``torchvision/ops/boxes.py:151`` for a full path: the last three path parts."""
    path, _, line = source.rpartition(":")
    parts = path.replace("\\", "/").split("/")
    return "/".join(parts[-3:]) + (f":{line}" if line else "")


def _prefix_of(node: Any) -> str:
    return node.name if node.kind == "module" else (node.scope or "")


def _in(name: str, prefixes: list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def stage_costs(graph: Graph, stages: list[tuple[str, list[str]]]) -> list[tuple[str, int, int]]:
    """(stage, MACs, FLOPs) in order, plus "other" (transform, anchors, post-processing) for the rest."""
    totals = {label: [0, 0] for label, _ in stages}
    other = [0, 0]
    for node in graph:
        if node.kind == "input":
            continue
        name = _prefix_of(node)
        for label, prefixes in stages:
            if _in(name, prefixes):
                totals[label][0] += node.macs
                totals[label][1] += node.flops
                break
        else:
            other[0] += node.macs
            other[1] += node.flops
    rows = [(label, m, f) for label, (m, f) in totals.items()]
    rows.append(("other (transform, anchors, post-processing)", other[0], other[1]))
    return rows


def _counts(graph: Graph, kind: str) -> dict[str, int]:
    found: dict[str, int] = {}
    if kind == "rcnn":
        for scope in graph.scopes:
            if scope.name == "rpn" and scope.outputs:
                found["proposals per image"] = int(scope.outputs[0].shape[0]) if scope.outputs[0].shape else 0
                break
    if graph.outputs and graph.outputs[0].shape:
        found["detections per image"] = int(graph.outputs[0].shape[0])
    return found


def _detector_stages(ctx: Context) -> list[Diagnostic]:
    stages = ctx.options.get("stages")
    kind = ctx.options.get("detector")
    if not stages or not kind:
        return []
    rows = stage_costs(ctx.graph, [(label, list(p)) for label, p in stages])
    total = sum(m for _, m, _ in rows) or 1
    text = "; ".join(f"{label} {m / 1e9:.3f} GMACs ({100 * m / total:.1f}%)" for label, m, _ in rows)
    counts = _counts(ctx.graph, kind)
    bounded = bool(assumptions(ctx.graph))
    counted = ", ".join(f"{v} {k}" for k, v in counts.items())
    msg = f"detector ({kind}) cost per stage: {text}"
    if counted:
        msg += f"; traced with {counted}" + (" (upper bound: nothing filtered out before the caps)" if bounded
                                            else "")
    return [make("LS131", msg, hint="the ROI heads scale with the number of proposals/detections: lower the "
                 "caps (rpn post_nms_top_n, detections_per_img) to bound them", stages=[list(r) for r in rows],
                 counts=counts, caps=dict(ctx.options.get("caps", {})))]
