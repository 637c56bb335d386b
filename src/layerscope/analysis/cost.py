"""Counting coverage: an op without a rule makes the totals partial, and is named.

LS201 is an *info* finding: a gap in layerscope's own rules is not a defect of the model, so it must not
fail ``--fail-on warning``; the totals still say "partial", and a budget checked against partial totals is a
warning of its own (LS505). LS202 (unused parameters) is not reported when the trace stopped at an error (the
layers after it never ran), and is marked ``follows_error`` when the trace continued past an error.
"""

from __future__ import annotations

from collections import Counter

from ..diagnostics import Diagnostic, make
from ..graph import Graph
from .context import Context, analyzer


def unknown_ops(graph: Graph) -> dict[str, list[str]]:
    """op name -> the nodes that ran it without a counting rule."""
    found: dict[str, list[str]] = {}
    for node in graph:
        for op in node.unknown_ops:
            found.setdefault(op, []).append(node.name)
    return found


@analyzer("LS201", "LS202")
def analyze_coverage(ctx: Context) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    missing = unknown_ops(ctx.graph)
    if missing:
        parts = []
        for op, nodes in sorted(missing.items()):
            where = ", ".join(nodes[:3]) + (f" and {len(nodes) - 3} more" if len(nodes) > 3 else "")
            parts.append(f"{op} x{len(nodes)} (in {where})")
        out.append(make(
            "LS201", "MACs/FLOPs are partial: no counting rule for " + "; ".join(parts),
            hint="the totals exclude these ops; add a rule with layerscope.rules.rule(...) or report the op upstream",
            ops=dict(Counter({op: len(n) for op, n in missing.items()})),
        ))
    stopped = bool(ctx.failures) and not ctx.graph.outputs
    if ctx.unused_params and not stopped:
        # after a failure the trace ran on substitutes: layers may have been skipped by the error, not unused
        follows = {"follows_error": True} if ctx.failures else {}
        names = list(ctx.unused_params)
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        out.append(make(
            "LS202", f"{len(names)} parameter tensors were not used by this forward pass: {shown}",
            hint="expected for training-only branches in eval mode (e.g. auxiliary heads); "
                 "otherwise a layer may be defined but never called",
            params=names, **follows,
        ))
    return out
