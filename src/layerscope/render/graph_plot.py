"""The layer graph as a picture: collapsed so a ResNet-50 stays readable, with residual merges kept visible.

Collapsing works in two ways at once. Every node is keyed by its module ancestor at ``depth``
(``layer1.0.conv1`` at depth 2 -> ``layer1.0``); then a chain ``u -> v`` is contracted when both have the
same key, ``v``'s only producer is ``u`` and ``u``'s only consumer is ``v`` (series reduction). Forks and
joins are never contracted, so a residual block stays a small diamond: main branch, shortcut (when it has
layers), and the merge (``add``) drawn as a circle. Contracting series edges of a DAG keeps it acyclic.

A graph too big for a legible picture (DenseNet's every-layer concatenations: 129 nodes and a wall of skip
edges) is drawn as *blocks* instead (:func:`block_graph`): each run of consecutive nodes inside one module at
``depth`` is one box, forks and joins included, so a dense block is one box that says how many merges it
holds. :func:`plan_layer_graph` picks the most detailed view that fits the legibility budget
(:data:`MAX_ROWS`, :data:`MAX_COLS`, :data:`MAX_SKIPS`), and says so, so a report can caption it honestly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

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


def block_graph(report: Any, depth: int = 1) -> Any:
    """The report's layer graph with every run of consecutive nodes (execution order) in the same module at
    ``depth`` merged into one node, forks and joins included: ``features.denseblock1`` is one node however many
    concatenations it holds. Runs are intervals of the execution order, so the result stays acyclic. Node
    attributes as :func:`collapse_graph`, plus ``inner_merges`` (op -> count of merges inside the block) and
    ``layers`` (member modules with a cost rule: the layers it stands for)."""
    from ..errors import require

    nx = require("networkx", "the layer graph plot")
    graph = report.layer_graph
    nodes = list(graph.nodes)
    runs: list[list[int]] = []
    last_key = None
    for n in nodes:
        key = _key(n, depth) if n.kind != "input" else f"\0input{n.id}"
        if runs and key == last_key:
            runs[-1].append(n.id)
        else:
            runs.append([n.id])
        last_key = key
    group = {m: k for k, members in enumerate(runs) for m in members}
    key_runs: dict[str, int] = {}
    for members in runs:
        k = _key(graph[members[0]], depth)
        key_runs[k] = key_runs.get(k, 0) + 1
    g = nx.DiGraph()
    for k, members in enumerate(runs):
        first, last = graph[members[0]], graph[members[-1]]
        key = first.name if first.kind == "input" else _key(first, depth)
        preds = {group[p] for p in graph.predecessors(first.id)} - {k}
        inner: dict[str, int] = {}
        for m in members:
            if len({p for p in graph.predecessors(m) if group[p] == k}) >= 2 or (
                    m != members[0] and len(graph.predecessors(m)) >= 2):
                inner[graph[m].type] = inner.get(graph[m].type, 0) + 1
        ops_only = all(graph[m].kind == "op" for m in members)
        label = key if key_runs.get(key, 1) == 1 else _label(graph, members, key, False)
        g.add_node(k, label=label, members=members, merge=ops_only and len(preds) >= 2, first=members[0],
                   params=sum(graph[m].params for m in members), macs=sum(graph[m].macs for m in members),
                   output_shape=last.outputs[0].shape if last.outputs else None, kind=first.kind, op=first.type,
                   inner_merges=inner,
                   layers=sum(1 for m in members if graph[m].kind == "module" and graph[m].macs > 0))
    for src, dst, _ in graph.edges():
        a, b = group[src], group[dst]
        if a != b:
            g.add_edge(a, b)
    return g


#: the legibility budget of a layer-graph picture: rows (the PNG is 0.55 in per row; 60 rows ~ 3000 px at the
#: report's 90 dpi), boxes side by side in one row, and skip edges passing one row (beyond a few they are a wall)
MAX_ROWS = 60
MAX_COLS = 8
MAX_SKIPS = 4

View = Literal["layers", "blocks", "none"]


@dataclass(frozen=True)
class GraphPlan:
    """What a report's layer-graph picture shows. ``view``: ``layers`` (:func:`collapse_graph`), ``blocks``
    (:func:`block_graph`) or ``none`` (nothing fits the budget); ``depth`` the module depth drawn; ``nodes``,
    ``rows``, ``cols``, ``skips`` its size (skips: most skip edges passing one row). ``requested_depth`` and the
    ``full_*`` numbers describe the per-layer view at the depth asked for, to say why it was not drawn."""

    view: View
    depth: int
    nodes: int
    rows: int
    cols: int
    skips: int
    requested_depth: int
    full_nodes: int
    full_rows: int
    full_skips: int

    @property
    def coarser(self) -> bool:
        """True when the picture shows less than the per-layer view at the requested depth."""
        return self.view != "layers"


def graph_metrics(g: Any) -> tuple[int, int, int]:
    """``(rows, cols, skips)`` of ``g`` drawn by :func:`layered_positions`: rows, the widest row, and the most
    skip edges (spanning more than one row) that pass between two adjacent rows."""
    pos = layered_positions(g)
    if not pos:
        return 0, 0, 0
    levels = [-y for _, y in pos.values()]
    rows = 1 + max(levels)
    cols = max(levels.count(lv) for lv in set(levels))
    passing = [0] * rows
    for a, b in g.edges:
        lo, hi = -pos[a][1], -pos[b][1]
        if hi - lo > 1:
            for gap in range(int(lo), int(hi)):
                passing[gap] += 1
    return int(rows), cols, max(passing)


def _legible(rows: int, cols: int, skips: int) -> bool:
    return rows <= MAX_ROWS and cols <= MAX_COLS and skips <= MAX_SKIPS


def plan_layer_graph(report: Any, depth: int = 2) -> GraphPlan:
    """The most detailed legible picture of the layer graph: the per-layer view at ``depth`` when it fits the
    budget, else blocks at ``depth``, ``depth - 1``, ... 1, else ``none``."""
    full = collapse_graph(report, depth)
    fr, fc, fs = graph_metrics(full)
    facts = dict(requested_depth=depth, full_nodes=full.number_of_nodes(), full_rows=fr, full_skips=fs)
    if _legible(fr, fc, fs):
        return GraphPlan("layers", depth, full.number_of_nodes(), fr, fc, fs, **facts)
    for d in range(max(depth, 1), 0, -1):
        g = block_graph(report, d)
        r, c, sk = graph_metrics(g)
        if _legible(r, c, sk):
            return GraphPlan("blocks", d, g.number_of_nodes(), r, c, sk, **facts)
    return GraphPlan("none", 1, g.number_of_nodes(), r, c, sk, **facts)


def plot_layer_graph(report: Any, depth: int = 2, ax: Any = None, *, max_label: int = 32,
                     view: View = "layers") -> Any:
    """Draw the layer graph top-down: boxes for layers (labelled with name, output shape and MACs), circles
    for merges (residual adds, concats), skip connections as curved edges. ``view="layers"`` draws
    :func:`collapse_graph` at ``depth``; ``view="blocks"`` draws :func:`block_graph` (one box per module at
    ``depth``, red-bordered when it holds merges, with how many)."""
    from ._axes import new_ax as _new_ax

    blocks = view == "blocks"
    g = block_graph(report, depth) if blocks else collapse_graph(report, depth)
    pos = layered_positions(g)
    n_rows = 1 + max((-y for _, y in pos.values()), default=0)
    n_cols = max((sum(1 for p in pos.values() if p[1] == y) for y in {p[1] for p in pos.values()}), default=1)
    ax = _new_ax(ax, (max(6.0, 3.2 * n_cols), max(4.0, 0.55 * n_rows + 1)))
    def reach(n: Any) -> float:
        """Points from a node's centre to its box edge (6 pt text, 1.2 line spacing, 0.3 pad; a merge's circle
        is wider than it is tall), so arrowheads end at the box and are not hidden under it."""
        data = g.nodes[n]
        if data["merge"]:
            return 16.0
        lines = data["label"].count("\n") + 2 + int(blocks and (data.get("layers", 0) > 1
                                                                or bool(data.get("inner_merges"))))
        return lines * 3.6 + 3.0

    for a, b in g.edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        skip = (y0 - y1) > 1.01  # an edge jumping over rows: a shortcut
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(
            arrowstyle="-|>", color="tab:red" if skip else "0.4", lw=1.0 if skip else 0.8, shrinkA=reach(a),
            shrinkB=reach(b),
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
        inner = data.get("inner_merges") or {}
        if blocks and data["kind"] != "input" and (data["layers"] > 1 or inner):
            what = f"{data['layers']} weight layers" + "".join(f", {c} x {op}" for op, c in sorted(inner.items()))
            extra += f"\n{what}"
        color = "#e8f0ff" if data["kind"] != "input" else "#e0ffe0"
        edge = "tab:red" if inner else "tab:blue" if data["macs"] else "0.5"
        ax.text(x, y, label + extra, ha="center", va="center", fontsize=6,
                bbox=dict(boxstyle="round,pad=0.3", fc=color, ec=edge))
    xs = [p[0] for p in pos.values()] or [0]
    ax.set_xlim(min(xs) - 1, max(xs) + 1)
    ax.set_ylim(-(n_rows - 1) - 0.7, 0.7)
    ax.set_axis_off()
    if blocks:
        ax.set_title(f"{report.model}: layer graph as blocks at module depth {depth}\n"
                     f"({g.number_of_nodes()} blocks; red border: merges inside, e.g. residual adds, concats)",
                     fontsize=8)
    else:
        ax.set_title(f"{report.model}: layer graph collapsed to depth {depth}\n"
                     f"({g.number_of_nodes()} nodes; red: merges and skip connections)", fontsize=8)
    return ax
