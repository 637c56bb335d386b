"""The layer graph as a picture: collapsed so a ResNet-50 stays readable, with residual merges kept visible.

Collapsing works in two ways at once. Every node is keyed by its module ancestor at ``depth``
(``layer1.0.conv1`` at depth 2 -> ``layer1.0``); then a chain ``u -> v`` is contracted when both have the
same key, ``v``'s only producer is ``u`` and ``u``'s only consumer is ``v`` (series reduction). Forks and
joins are never contracted, so a residual block stays a small diamond: main branch, shortcut (when it has
layers), and the merge (``add``) drawn as a circle. Contracting series edges of a DAG keeps it acyclic.
"""

from __future__ import annotations

import os
from typing import Any

from ._format import human, shape


def _key(node: Any, depth: int) -> str:
    """The module ancestor at ``depth`` a node is collapsed into (ops outside deep enough scopes keep their name)."""
    if node.kind == "op":
        parts = node.scope.split(".") if node.scope else []
        return ".".join(parts[:depth]) if len(parts) >= depth else node.name
    if node.kind == "module":
        return ".".join(node.name.split(".")[:depth])
    return node.name


def _common_prefix(names: list[str]) -> str:
    split = [n.replace("/", ".").split(".") for n in names]
    prefix = os.path.commonprefix(split)
    return ".".join(prefix)


def _label(graph: Any, members: list[int], key: str, whole_key: bool) -> str:
    """A readable name for a collapsed node: the module it is (when it covers one whole container call or is
    the only node of its key), else ``common.prefix`` and ``first..last`` of its members on a second line."""
    if whole_key:
        return key
    if len(members) == 1:
        return graph[members[0]].name
    lo, hi = members[0], members[-1]
    if hi - lo + 1 == len(members):
        covering = [s for s in graph.scopes if s.first == lo and s.last == hi]
        if covering:
            return min(covering, key=lambda s: s.depth).name
    names = [graph[m].name for m in members]
    prefix = _common_prefix(names)
    tails = [n[len(prefix):].lstrip("./") or n for n in names] if prefix else names
    span = tails[0] if tails[0] == tails[-1] else f"{tails[0]}..{tails[-1]}"
    return f"{prefix}\n{span}" if prefix else span


def collapse_graph(report: Any, depth: int = 2) -> Any:
    """The report's layer graph collapsed to ``depth`` as a ``networkx.DiGraph``.

    Node attributes: ``label`` (readable name), ``members`` (original node ids, execution order), ``merge``
    (True when the first member joins two or more distinct tensors: a residual add, a concat, a gating mul),
    ``params``, ``macs``, ``output_shape`` (of the last member), ``first`` (smallest member id, for ordering).
    """
    from ..errors import require

    nx = require("networkx", "the layer graph plot")
    graph = report.layer_graph
    nodes = list(graph.nodes)
    preds = {n.id: graph.predecessors(n.id) for n in nodes}
    succ = graph.successors()
    keys = {n.id: _key(n, depth) for n in nodes}
    parent = {n.id: n.id for n in nodes}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def is_merge(i: int) -> bool:
        return len(preds[i]) >= 2

    for n in nodes:
        p = preds[n.id]
        if len(p) == 1 and len(succ[p[0]]) == 1 and keys[p[0]] == keys[n.id] and n.kind != "input":
            # a merge circle may absorb the cheap ops after it (add -> relu) but not a layer with MACs: the
            # layer keeps its own box (and its cost label)
            if is_merge(find(p[0])) and n.macs > 0:
                continue
            parent[find(n.id)] = find(p[0])
    groups: dict[int, list[int]] = {}
    for n in nodes:
        groups.setdefault(find(n.id), []).append(n.id)
    key_count: dict[str, int] = {}
    for root, members in groups.items():
        key_count[keys[root]] = key_count.get(keys[root], 0) + 1
    g = nx.DiGraph()
    for root, members in sorted(groups.items(), key=lambda kv: kv[1][0]):
        first = graph[members[0]]
        last = graph[members[-1]]
        merge = len(preds[first.id]) >= 2
        key = keys[root]
        label = _label(graph, members, key, key_count[key] == 1)
        g.add_node(root, label=label, members=members, merge=merge, first=members[0],
                   params=sum(graph[m].params for m in members), macs=sum(graph[m].macs for m in members),
                   output_shape=last.outputs[0].shape if last.outputs else None, kind=first.kind,
                   op=first.type)
    for src, dst, _ in graph.edges():
        a, b = find(src), find(dst)
        if a != b:
            g.add_edge(a, b)
    return g


def layered_positions(g: Any) -> dict[Any, tuple[float, float]]:
    """Top-down positions: a node's row is its longest-path distance from a source; nodes sharing a row are
    spread left to right in execution order (so parallel branches sit side by side)."""
    level: dict[Any, int] = {}
    for n in sorted(g.nodes, key=lambda v: g.nodes[v]["first"]):
        ps = list(g.predecessors(n))
        level[n] = 1 + max(level[p] for p in ps) if ps else 0
    rows: dict[int, list[Any]] = {}
    for n in sorted(g.nodes, key=lambda v: g.nodes[v]["first"]):
        rows.setdefault(level[n], []).append(n)
    pos = {}
    for lv, members in rows.items():
        width = len(members)
        for i, n in enumerate(members):
            pos[n] = (i - (width - 1) / 2, -lv)
    return pos


def plot_layer_graph(report: Any, depth: int = 2, ax: Any = None, *, max_label: int = 32) -> Any:
    """Draw :func:`collapse_graph` top-down: boxes for layers (labelled with name, output shape and MACs),
    circles for merges (residual adds, concats), skip connections as curved edges."""
    from ._axes import new_ax as _new_ax

    g = collapse_graph(report, depth)
    pos = layered_positions(g)
    n_rows = 1 + max((-y for _, y in pos.values()), default=0)
    n_cols = max((sum(1 for p in pos.values() if p[1] == y) for y in {p[1] for p in pos.values()}), default=1)
    ax = _new_ax(ax, (max(6.0, 3.2 * n_cols), max(4.0, 0.55 * n_rows + 1)))
    for a, b in g.edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        skip = (y0 - y1) > 1.01  # an edge jumping over rows: a shortcut
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(
            arrowstyle="-|>", color="tab:red" if skip else "0.4", lw=1.0 if skip else 0.8, shrinkA=9, shrinkB=9,
            connectionstyle="arc3,rad=-0.35" if skip else "arc3,rad=0"))
    for n, data in g.nodes(data=True):
        x, y = pos[n]
        # long names keep their informative end (the block and layer), one line per part
        label = "\n".join(line if len(line) <= max_label else "…" + line[-(max_label - 1):]
                          for line in data["label"].split("\n"))
        if data["merge"]:
            ax.text(x, y, f"{data['op']}\n{shape(data['output_shape'])}", ha="center", va="center", fontsize=6,
                    bbox=dict(boxstyle="circle,pad=0.3", fc="#ffe0e0", ec="tab:red"))
            continue
        extra = f"\n{shape(data['output_shape'])}" + (f"  {human(data['macs'])} MACs" if data["macs"] else "")
        color = "#e8f0ff" if data["kind"] != "input" else "#e0ffe0"
        ax.text(x, y, label + extra, ha="center", va="center", fontsize=6,
                bbox=dict(boxstyle="round,pad=0.3", fc=color, ec="tab:blue" if data["macs"] else "0.5"))
    xs = [p[0] for p in pos.values()] or [0]
    ax.set_xlim(min(xs) - 1, max(xs) + 1)
    ax.set_ylim(-(n_rows - 1) - 0.7, 0.7)
    ax.set_axis_off()
    ax.set_title(f"{report.model}: layer graph collapsed to depth {depth}\n"
                 f"({g.number_of_nodes()} nodes; red: merges and skip connections)", fontsize=8)
    return ax
