"""Row views of a Report shared by the renderers: the per-layer rows grouped to a module depth, top-k layers,
the final receptive field. Pure functions of the report; no printing, no plotting."""

from __future__ import annotations

import os
from typing import Any, Iterable

#: kind of a row that stands for a whole container call whose deeper rows were folded into it
GROUP_KIND = "scope"
#: kind of a header row: a container shown expanded, its totals repeated above its children
HEADER_KIND = "group"


def _ancestor(name: str, depth: int) -> str:
    """``layer1.0.conv1`` at depth 1 -> ``layer1``."""
    return ".".join(name.split(".")[:depth])


def _node_path(node: Any) -> str:
    """The dotted module path a node belongs to: its own name for modules, its scope for functional ops."""
    return node.name if node.kind == "module" else node.scope


def _scope_for(graph: Any, name: str, node_id: int) -> Any:
    for s in graph.scopes:
        if s.name == name and s.first <= node_id <= s.last:
            return s
    return None


def _scope_input_shape(graph: Any, scope: Any) -> tuple[int, ...] | None:
    """The first tensor that enters the scope from outside (what the module was called with)."""
    for n in graph.nodes[scope.first:scope.last + 1]:
        for t in n.inputs:
            if t.producer is None or not scope.first <= t.producer <= scope.last:
                return t.shape
    return None


def _aggregate(graph: Any, scope: Any, members: list[dict[str, Any]], kind: str, depth: int) -> dict[str, Any]:
    out_shape = scope.outputs[0].shape if scope.outputs else (members[-1]["output_shape"] if members else None)
    producer = scope.outputs[0].producer if scope.outputs else None
    # the receptive field of a container is the one of the node that produced its output
    last = next((m for m in members if m.get("_id") == producer), members[-1] if members else {})
    return {
        "name": scope.name, "type": scope.type, "kind": kind, "depth": depth,
        "input_shape": _scope_input_shape(graph, scope), "output_shape": out_shape,
        "params": sum(m["params"] for m in members), "macs": sum(m["macs"] for m in members),
        "flops": sum(m["flops"] for m in members),
        "activation_bytes": sum(m["activation_bytes"] for m in members),
        "formula": f"{len(members)} layers", "rf": last.get("rf"), "jump": last.get("jump"),
        "start": last.get("start"), "complete": all(m["complete"] for m in members), "call": scope.call,
        "source": None, "_id": producer, "layers": len(members),
    }


def grouped_rows(report: Any, max_depth: int | None = None, *, headers: bool = True) -> list[dict[str, Any]]:
    """The per-layer rows with everything deeper than ``max_depth`` folded into its parent module.

    A folded container gets one row (``kind == "scope"``) whose params, MACs, FLOPs and activation bytes are the
    sums of its layers, whose input/output shapes are the container's and whose receptive field is that of the
    node producing its output. With ``headers``, each container shallower than ``max_depth`` that is shown
    expanded gets a header row (``kind == "group"``) with its totals just above its children, so the table
    reads as a tree; header rows repeat totals, so do not sum a column over them. ``max_depth=None``: every row,
    no grouping.
    """
    rows = report.rows()
    nodes = report.nodes
    for r, n in zip(rows, nodes):
        r["_id"] = n.id
    if max_depth is None:
        return [dict(r, layers=1) for r in rows]
    graph = report.layer_graph
    out: list[dict[str, Any]] = []
    open_headers: list[Any] = []  # scopes whose header row is already emitted and still "open"
    i = 0
    while i < len(rows):
        r, n = rows[i], nodes[i]
        path = _node_path(n)
        parts = path.split(".") if path else []
        # header rows for containers above max_depth that enclose this node
        while open_headers and not (open_headers[-1].first <= n.id <= open_headers[-1].last):
            open_headers.pop()
        # containers enclosing this node: for a module its ancestors, for a functional op its scope too
        enclosing = len(parts) if n.kind == "op" else len(parts) - 1
        if headers:
            for d in range(1, min(enclosing, max_depth - 1) + 1):
                name = _ancestor(path, d)
                if any(s.name == name and s.first <= n.id <= s.last for s in open_headers):
                    continue
                scope = _scope_for(graph, name, n.id)
                if scope is None:
                    continue
                members = [rows[j] for j in range(len(rows)) if scope.first <= nodes[j].id <= scope.last]
                out.append(_aggregate(graph, scope, members, HEADER_KIND, d))
                open_headers.append(scope)
        if enclosing >= max_depth:
            name = _ancestor(path, max_depth)
            scope = _scope_for(graph, name, n.id)
            # an nn.ModuleList is never called, so it has no scope: group by its called children instead
            # (model.layers.0, model.layers.1, ...), the next deeper ancestor that ran as a container
            d = max_depth
            while scope is None and d < enclosing:
                d += 1
                scope = _scope_for(graph, _ancestor(path, d), n.id)
            if scope is not None:
                members = []
                while i < len(rows) and scope.first <= nodes[i].id <= scope.last:
                    members.append(rows[i])
                    i += 1
                out.append(_aggregate(graph, scope, members, GROUP_KIND, d))
                continue
        out.append(dict(r, layers=1))
        i += 1
    return out


def public_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without the private ``_id`` key (for CSV/JSON output)."""
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]


def top_layers(report: Any, metric: str = "macs", k: int = 10) -> list[dict[str, Any]]:
    """The ``k`` rows with the largest ``metric`` (``macs``, ``params``, ``flops``, ``activation_bytes``), ties
    broken by execution order so the result is deterministic. Rows with a zero value are left out."""
    rows = [r for r in report.rows() if r[metric]]
    order = sorted(range(len(rows)), key=lambda j: (-rows[j][metric], j))
    return [rows[j] for j in order[:k]]


def _as_int(v: Any) -> float | None:
    """An rf/jump value as one number: per-axis tuples give their largest axis."""
    if v is None:
        return None
    if isinstance(v, (tuple, list)):
        vals = [x for x in v if x is not None]
        return max(vals) if vals else None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def rf_value(v: Any) -> float | None:
    """Public alias of the rf normaliser: ``(211, 211) -> 211.0``; ``None`` when unknown."""
    return _as_int(v)


def _output_field(report: Any) -> Any:
    return report.receptive_field


def final_rf(report: Any) -> Any:
    """The receptive field at the model's (first) output, per spatial axis: the *local* field of the
    convolutional path when the output is global (pooling/linear heads), since that is what people compare;
    None when unknown."""
    rf = _output_field(report)
    if rf is not None:
        if any(v is not None for v in rf.local_size):
            return tuple(rf.local_size)
        if rf.is_global:
            # a global output's ``size`` is the input extent: with the local field unknown (LS404), the
            # receptive field is unknown, not the input size
            return None
        return tuple(rf.size) if any(v is not None for v in rf.size) else None
    outputs = report.outputs
    if not outputs or outputs[0].producer is None:
        return None
    for r, n in zip(report.rows(), report.nodes):
        if n.id == outputs[0].producer:
            return r["rf"]
    return None


def spatial_input_size(report: Any) -> int | None:
    """The largest spatial extent of the first input (H of an NCHW image), None for non-spatial inputs."""
    if not report.inputs:
        return None
    shape = report.inputs[0].shape
    return max(shape[2:]) if len(shape) >= 3 else None


def global_at(report: Any) -> str | None:
    """The layer from which every output unit depends on the whole input (a global pool, a linear head, a
    global-context branch), as the receptive-field analysis reports it; None when never or unknown."""
    rf = _output_field(report)
    if rf is not None and rf.is_global:
        return rf.global_from
    return None


def _installed_path(path: str) -> str | None:
    """``.../site-packages/torchvision/models/resnet.py`` -> ``torchvision/models/resnet.py`` wherever the
    environment lives (``/usr/lib``, ``~/.venv``, a ``.venv`` inside the checkout); None for other paths."""
    parts = path.replace("\\", "/").split("/")
    for marker in ("site-packages", "dist-packages"):
        if marker in parts[:-1]:
            i = len(parts) - 1 - parts[::-1].index(marker)
            return "/".join(parts[i + 1:])
    return None


def relative_source(source: str | None, root: str | None) -> str | None:
    """``/repo/examples/resnet.py:116`` -> ``examples/resnet.py:116`` under ``root`` (reports must not depend on
    where the repository is checked out); paths outside ``root`` keep only their file name."""
    if not source:
        return source
    path, sep, line = source.rpartition(":")
    if not sep or not line.isdigit():
        path, line = source, ""
    if root is not None and os.path.isabs(path):
        installed = _installed_path(path)
        rel = os.path.relpath(path, root)
        if installed is not None:  # an installed library, also from a venv inside root: torchvision/models/...
            path = installed
        elif not rel.startswith(".."):
            path = rel
        else:
            path = os.path.basename(path)
    return f"{path}:{line}" if line else path
