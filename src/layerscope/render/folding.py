"""Repeated blocks fold: ``32 x LlamaDecoderLayer`` as one row, with the per-block and the total cost.

A *run* is a sequence of sibling container calls named ``P.i, P.i+1, ...`` (the children of an ``nn.ModuleList``
or ``nn.Sequential``) that are identical blocks: the same type, the same layers inside (type, parameter count
and output shape of every node, in order; so the same parameter shapes and the same cost), and the same input
and output shapes. Runs of at least :data:`MIN_REPEATS` fold (a pair reads fine unfolded).

Pure functions over a Report's rows and scopes, for every renderer (text, markdown, HTML):

- :func:`repeat_runs` finds the runs;
- :func:`fold_repeated_blocks` turns per-layer rows (``report.rows()`` or ``grouped_rows(...)``) into rows where
  each run is one row of kind :data:`REPEAT_KIND` followed by the rows of its first block (``in_repeat`` names
  the run), the other blocks' rows dropped; ``report.table`` keeps every layer;
- :func:`group_identical_layers` merges rows that play the same role in every block of a run
  (``model.layers.*.mlp.down_proj``, ``x 32``), for top-k tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

#: kind of a row standing for a run of identical blocks
REPEAT_KIND = "repeat"
#: the shortest run that folds
MIN_REPEATS = 3


@dataclass(frozen=True)
class RepeatRun:
    """One run of identical sibling blocks: ``parent.{start..start+count-1}`` of type ``type``."""

    parent: str
    type: str
    names: tuple[str, ...]
    first: int  # first node id of the first block
    last: int  # last node id of the last block
    block_first: int  # node ids of the first block
    block_last: int
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None

    @property
    def count(self) -> int:
        return len(self.names)

    @property
    def label(self) -> str:
        """``model.layers.0-31``."""
        return f"{self.names[0]}-{self.names[-1].rpartition('.')[2]}"

    def member_of(self, name: str) -> tuple[int, str] | None:
        """``(block index, the name's rest after the block)`` when ``name`` is in one of the run's blocks:
        ``model.layers.12.mlp`` -> (12 - start, ".mlp"); ``model.layers.12/add`` -> (.., "/add")."""
        for i, block in enumerate(self.names):
            if name == block or name.startswith(block + ".") or name.startswith(block + "/"):
                return i, name[len(block):]
        return None


def _signature(graph: Any, scope: Any) -> tuple:
    prefix = scope.name
    sig = []
    for node in graph.nodes[scope.first:scope.last + 1]:
        rel = node.name[len(prefix):] if node.name.startswith(prefix) else node.name
        sig.append((rel, node.type, node.params, tuple(t.shape for t in node.outputs)))
    return tuple(sig)


def _input_shape(graph: Any, scope: Any) -> tuple[int, ...] | None:
    for n in graph.nodes[scope.first:scope.last + 1]:
        for t in n.inputs:
            if t.producer is None or not scope.first <= t.producer <= scope.last:
                return t.shape
    return None


def repeat_runs(report: Any, *, min_repeats: int = MIN_REPEATS) -> list[RepeatRun]:
    """Every maximal run of at least ``min_repeats`` identical sibling blocks, outermost first (a run inside
    the first block of another run is listed too; runs inside the other blocks are not)."""
    graph = report.layer_graph
    scopes = sorted((s for s in graph.scopes if s.call == 0 and s.name), key=lambda s: s.first)
    by_parent: dict[str, list[Any]] = {}
    for s in scopes:
        parent, _, last = s.name.rpartition(".")
        if last.isdigit():
            by_parent.setdefault(parent, []).append(s)
    runs: list[RepeatRun] = []
    for parent, members in by_parent.items():
        members.sort(key=lambda s: int(s.name.rpartition(".")[2]))
        i = 0
        while i < len(members):
            j = i + 1
            sig = _signature(graph, members[i])
            shape_in = _input_shape(graph, members[i])
            shape_out = members[i].outputs[0].shape if members[i].outputs else None
            while j < len(members):
                m = members[j]
                if (int(m.name.rpartition(".")[2]) != int(members[j - 1].name.rpartition(".")[2]) + 1
                        or m.type != members[i].type or m.first <= members[j - 1].last
                        or _signature(graph, m) != sig or _input_shape(graph, m) != shape_in
                        or (m.outputs[0].shape if m.outputs else None) != shape_out):
                    break
                j += 1
            if j - i >= min_repeats:
                run = members[i:j]
                runs.append(RepeatRun(parent, run[0].type, tuple(s.name for s in run), run[0].first, run[-1].last,
                                      run[0].first, run[0].last, shape_in, shape_out))
            i = j
    runs.sort(key=lambda r: (r.first, -r.last))
    # drop runs nested in a non-first block of an outer run (they are folded away with it)
    kept: list[RepeatRun] = []
    for r in runs:
        if any(o.first <= r.first and r.last <= o.last and not (o.block_first <= r.first and r.last <= o.block_last)
               for o in kept):
            continue
        kept.append(r)
    return kept


def _node_ids(rows: list[dict[str, Any]], report: Any) -> list[int | None]:
    ids = [r.get("_id") for r in rows]
    if any(i is None for i in ids) and len(rows) == len(report.nodes):
        ids = [n.id for n in report.nodes]
    return ids


def _sum(rows: Iterable[dict[str, Any]], key: str) -> int:
    return sum(int(r.get(key) or 0) for r in rows)


def _repeat_row(run: RepeatRun, members: list[dict[str, Any]], block: list[dict[str, Any]]) -> dict[str, Any]:
    per = {k: _sum(block, k) for k in ("params", "macs", "flops", "activation_bytes")}
    last = members[-1] if members else {}
    return {
        "name": run.label, "type": f"{run.count} x {run.type}", "kind": REPEAT_KIND,
        "depth": run.names[0].count(".") + 1, "input_shape": run.input_shape, "output_shape": run.output_shape,
        "params": _sum(members, "params"), "macs": _sum(members, "macs"), "flops": _sum(members, "flops"),
        "activation_bytes": _sum(members, "activation_bytes"),
        "formula": f"{run.count} identical blocks, each {per['macs']:,} MACs, {per['params']:,} params",
        "rf": last.get("rf"), "jump": last.get("jump"), "start": last.get("start"),
        "complete": all(m.get("complete", True) for m in members), "call": 0, "source": None, "_id": run.last,
        "layers": len(members), "repeats": run.count, "block": per, "block_type": run.type,
        "members": list(run.names),
    }


def _inside(run: RepeatRun, row: dict[str, Any], nid: int | None) -> bool:
    """The row is one of the run's layers (not a container row that merely encloses the run)."""
    return nid is not None and run.first <= nid <= run.last and run.member_of(row["name"]) is not None


def _fold(rows: list[dict[str, Any]], ids: list[int | None], runs: list[RepeatRun], expand_first: bool,
          in_repeat: str | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(rows):
        run = next((r for r in runs if _inside(r, rows[i], ids[i])), None)
        if run is None:
            out.append(dict(rows[i], in_repeat=in_repeat) if in_repeat else rows[i])
            i += 1
            continue
        j = i
        while j < len(rows) and _inside(run, rows[j], ids[j]):
            j += 1
        span = list(range(i, j))
        block = [k for k in span if run.block_first <= ids[k] <= run.block_last]  # type: ignore[operator]
        out.append(_repeat_row(run, [rows[k] for k in span], [rows[k] for k in block]))
        if expand_first:
            inner = [r for r in runs if r is not run and run.block_first <= r.first and r.last <= run.block_last]
            out += _fold([rows[k] for k in block], [ids[k] for k in block], inner, expand_first, run.label)
        i = j
    return out


def fold_repeated_blocks(report: Any, rows: list[dict[str, Any]] | None = None, *,
                         min_repeats: int = MIN_REPEATS, expand_first: bool = True) -> list[dict[str, Any]]:
    """``rows`` (default ``report.rows()``; rows of ``grouped_rows`` work too, they carry ``_id``) with each run
    of identical blocks replaced by one :data:`REPEAT_KIND` row, then (``expand_first``) the rows of its first
    block, marked with ``in_repeat`` (the run's label; runs inside that block fold too). The repeat row has the
    run's totals in ``params``/``macs``/``flops``/``activation_bytes``, the per-block values in ``block`` and
    the count in ``repeats``; its ``type`` reads ``32 x LlamaDecoderLayer``."""
    rows = list(report.rows() if rows is None else rows)
    runs = repeat_runs(report, min_repeats=min_repeats)
    if not runs:
        return rows
    return _fold(rows, _node_ids(rows, report), runs, expand_first, None)


def group_identical_layers(report: Any, rows: list[dict[str, Any]] | None = None, *,
                           min_repeats: int = MIN_REPEATS) -> list[dict[str, Any]]:
    """Rows with the layers that play the same role in every block of a run merged into one row: name
    ``model.layers.*.mlp.down_proj`` (the run's index as ``*``), ``count`` (how many), the per-layer values in
    ``each_<metric>`` and the sums in the metric columns. Other rows keep ``count == 1``."""
    rows = list(report.rows() if rows is None else rows)
    runs = repeat_runs(report, min_repeats=min_repeats)
    ids = _node_ids(rows, report)
    merged: dict[tuple, dict[str, Any]] = {}
    order: list[tuple] = []
    for row, nid in zip(rows, ids):
        run = next((r for r in runs if _inside(r, row, nid)), None)
        hit = run.member_of(row["name"]) if run is not None else None
        if hit is None:
            key: tuple = ("row", len(order))
            merged[key] = dict(row, count=1, **{f"each_{m}": row.get(m, 0) for m in ("params", "macs", "flops",
                                                                                      "activation_bytes")})
            order.append(key)
            continue
        _, rest = hit
        name = (f"{run.parent}.*" if run.parent else "*") + rest
        key = ("run", run.first, name, row.get("type"))
        if key not in merged:
            merged[key] = dict(row, name=name, count=0, **{f"each_{m}": row.get(m, 0)
                                                           for m in ("params", "macs", "flops", "activation_bytes")})
            merged[key].update(params=0, macs=0, flops=0, activation_bytes=0)
            order.append(key)
        g = merged[key]
        g["count"] += 1
        for m in ("params", "macs", "flops", "activation_bytes"):
            g[m] += int(row.get(m) or 0)
    return [merged[k] for k in order]


def top_grouped_layers(report: Any, metric: str = "macs", k: int = 10, *,
                       min_repeats: int = MIN_REPEATS) -> list[dict[str, Any]]:
    """The ``k`` rows of :func:`group_identical_layers` with the largest total ``metric`` (ties: execution
    order); rows with a zero value are left out. Without runs this is ``table.top_layers``."""
    rows = [r for r in group_identical_layers(report, min_repeats=min_repeats) if r[metric]]
    order = sorted(range(len(rows)), key=lambda j: (-rows[j][metric], j))
    return [rows[j] for j in order[:k]]
