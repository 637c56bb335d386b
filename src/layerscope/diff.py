"""What changed between two versions of a model: layer by layer (added, removed, changed shapes, params and
MACs deltas) and in total.

>>> import torch, layerscope
>>> a = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
>>> b = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3), torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 1))
>>> d = layerscope.diff(a, b, input_size=8)
>>> [(c.name, c.change) for c in d.changes]
[('0', 'changed'), ('1', 'changed'), ('2', 'added')]
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from .report import Report

Change = Literal["added", "removed", "changed", "same"]


@dataclass(frozen=True)
class LayerChange:
    """One layer (matched by name and call index) in version A and/or B."""

    name: str
    call: int
    change: Change
    type_a: str | None
    type_b: str | None
    shape_a: tuple[int, ...] | None
    shape_b: tuple[int, ...] | None
    params_a: int
    params_b: int
    macs_a: int
    macs_b: int

    @property
    def params_delta(self) -> int:
        return self.params_b - self.params_a

    @property
    def macs_delta(self) -> int:
        return self.macs_b - self.macs_a

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "call": self.call, "change": self.change, "type_a": self.type_a,
                "type_b": self.type_b, "shape_a": self.shape_a, "shape_b": self.shape_b, "params_a": self.params_a,
                "params_b": self.params_b, "params_delta": self.params_delta, "macs_a": self.macs_a,
                "macs_b": self.macs_b, "macs_delta": self.macs_delta}


TOTALS = ("total_params", "trainable_params", "total_macs", "total_flops", "activation_bytes", "param_bytes")


@dataclass(frozen=True)
class ReportDiff:
    """Layer changes in B's execution order (removed layers where they were in A) and the totals of both."""

    name_a: str
    name_b: str
    layers: tuple[LayerChange, ...]
    totals: tuple[tuple[str, int, int], ...]  # (metric, a, b)
    #: ``(side, errors, first code, first message, status)`` for A and/or B when its report has errors or its
    #: trace failed: the deltas of a broken model mean little, and the diff says so
    problems: tuple[tuple[str, int, str, str, str], ...] = ()

    @property
    def ok(self) -> bool:
        """False when A or B has errors (shape bugs, a failed forward pass)."""
        return not self.problems

    @property
    def changes(self) -> list[LayerChange]:
        """Only the layers that were added, removed or changed."""
        return [c for c in self.layers if c.change != "same"]

    @property
    def counts(self) -> dict[str, int]:
        out = {"added": 0, "removed": 0, "changed": 0, "same": 0}
        for c in self.layers:
            out[c.change] += 1
        return out

    @cached_property
    def table(self) -> Any:
        """A pandas DataFrame, one row per layer change (unchanged layers left out)."""
        from .errors import require

        pd = require("pandas", "ReportDiff.table")
        return pd.DataFrame([c.to_dict() for c in self.changes],
                            columns=list(LayerChange("", 0, "same", None, None, None, None, 0, 0, 0, 0).to_dict()))

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.name_a, "b": self.name_b, "counts": self.counts, "ok": self.ok,
                "problems": [{"side": side, "errors": n, "first_code": code, "first_message": msg, "status": st}
                             for side, n, code, msg, st in self.problems],
                "totals": [{"metric": m, "a": a, "b": b, "delta": b - a} for m, a, b in self.totals],
                "layers": [c.to_dict() for c in self.changes]}

    def to_markdown(self) -> str:
        return diff_markdown(self)

    def to_text(self) -> str:
        return diff_text(self)

    def __repr__(self) -> str:  # short: a notebook shows this for every diff (the layers are in .table)
        c = self.counts
        return (f"<ReportDiff {self.name_a} -> {self.name_b}: {c['added']} added, {c['removed']} removed, "
                f"{c['changed']} changed, {c['same']} same>")


def _signed(n: int) -> str:
    return f"{n:+,}" if n else "0"


def _pct(a: int, b: int) -> str:
    return f"{100 * (b - a) / a:+.1f}%" if a else ("new" if b else "-")


def _problem_lines(d: ReportDiff) -> list[str]:
    names = {"A": d.name_a, "B": d.name_b}
    return [f"{side} ({names[side]}) has {n} error(s), status {status}: first {code} {msg}"
            for side, n, code, msg, status in d.problems]


def _problems(side: str, report: Report) -> list[tuple[str, int, str, str, str]]:
    errors = list(report.errors)
    if not errors and report.status != "failed":
        return []
    first = errors[0] if errors else None
    return [(side, len(errors), first.code if first else "-",
             (first.message.splitlines()[0] if first else "the forward pass produced no output"), report.status)]


def diff_markdown(d: ReportDiff) -> str:
    """Totals of A and B with deltas, then one row per added/removed/changed layer."""
    from .render._format import shape

    c = d.counts
    out = [f"# Diff: {d.name_a} -> {d.name_b}", "",
           f"{c['added']} layers added, {c['removed']} removed, {c['changed']} changed, {c['same']} unchanged.", ""]
    out += [f"**{line}**" for line in _problem_lines(d)] + ([""] if d.problems else [])
    out += ["| total | A | B | delta | change |", "|---|---:|---:|---:|---:|"]
    out += [f"| {m} | {a:,} | {b:,} | {_signed(b - a)} | {_pct(a, b)} |" for m, a, b in d.totals]
    if d.changes:
        out += ["", "| layer | change | type | shape A | shape B | params delta | MACs delta |",
                "|---|---|---|---|---|---:|---:|"]
        for ch in d.changes:
            typ = ch.type_a if ch.type_a == ch.type_b or ch.type_b is None else (
                ch.type_b if ch.type_a is None else f"{ch.type_a} -> {ch.type_b}")
            name = ch.name + (f" (call {ch.call})" if ch.call else "")
            out.append(f"| `{name}` | {ch.change} | {typ} | {shape(ch.shape_a)} | {shape(ch.shape_b)} | "
                       f"{_signed(ch.params_delta)} | {_signed(ch.macs_delta)} |")
    return "\n".join(out) + "\n"


def diff_text(d: ReportDiff) -> str:
    """The diff for a terminal: totals, then ``+``/``-``/``~`` lines per changed layer."""
    from .render._format import shape

    c = d.counts
    lines = [f"A: {d.name_a}", f"B: {d.name_b}",
             f"{c['added']} added, {c['removed']} removed, {c['changed']} changed, {c['same']} unchanged",
             *_problem_lines(d), ""]
    width = max([len(m) for m, _, _ in d.totals] + [5])
    for m, a, b in d.totals:
        lines.append(f"{m.ljust(width)}  {a:>16,} -> {b:>16,}  {_signed(b - a):>16} ({_pct(a, b)})")
    if d.changes:
        lines.append("")
        marks = {"added": "+", "removed": "-", "changed": "~"}
        for ch in d.changes:
            typ = ch.type_b or ch.type_a
            lines.append(f"{marks[ch.change]} {ch.name}{f' (call {ch.call})' if ch.call else ''}  {typ}  "
                         f"{shape(ch.shape_a)} -> {shape(ch.shape_b)}  params {_signed(ch.params_delta)}  "
                         f"MACs {_signed(ch.macs_delta)}")
    return "\n".join(lines) + "\n"


def _as_report(x: Any, input_size: Any, analyze_kwargs: dict[str, Any]) -> Report:
    from .compare import _to_report
    from .errors import ConfigError

    if isinstance(x, str) and not x.endswith(".json") and input_size is None:
        raise ConfigError(f"{x} is a model, so an input size is needed", hint="pass input_size= (--input-size)",
                          code="LS966")
    return _to_report(x, input_size, analyze_kwargs)


def diff(a: Any, b: Any, *, input_size: Any = None, input_size_b: Any = None, name_a: str | None = None,
         name_b: str | None = None, **analyze_kwargs: Any) -> ReportDiff:
    """Compare two versions of a model: ``a`` and ``b`` are Reports, ``nn.Module`` instances, SPEC strings or
    paths to saved JSON reports (``layerscope analyze ... --format json -o a.json``). Layers are matched by
    qualified name and call index. ``input_size_b`` defaults to ``input_size``."""
    ra = _as_report(a, input_size, analyze_kwargs)
    rb = _as_report(b, input_size_b if input_size_b is not None else input_size, analyze_kwargs)
    rows_a = {(n.name, n.call): n for n in ra.nodes}
    rows_b = {(n.name, n.call): n for n in rb.nodes}

    def change(na: Any, nb: Any) -> LayerChange:
        sa = na.outputs[0].shape if na is not None and na.outputs else None
        sb = nb.outputs[0].shape if nb is not None and nb.outputs else None
        if na is None:
            kind: Change = "added"
        elif nb is None:
            kind = "removed"
        else:
            ia = na.inputs[0].shape if na.inputs else None
            ib = nb.inputs[0].shape if nb.inputs else None
            same = (na.type, ia, sa, na.params, na.macs) == (nb.type, ib, sb, nb.params, nb.macs)
            kind = "same" if same else "changed"
        ref = nb if nb is not None else na
        return LayerChange(ref.name, ref.call, kind, na.type if na else None, nb.type if nb else None, sa, sb,
                           na.params if na else 0, nb.params if nb else 0, na.macs if na else 0,
                           nb.macs if nb else 0)

    layers: list[LayerChange] = []
    keys_a = list(rows_a)
    pos_a = {k: i for i, k in enumerate(keys_a)}
    emitted_a = 0  # A's layers before this index are already placed
    for key, nb in rows_b.items():
        if key in rows_a:
            # removed layers of A that came before this matched one go here, in A's order
            for k in keys_a[emitted_a:pos_a[key]]:
                if k not in rows_b:
                    layers.append(change(rows_a[k], None))
            emitted_a = max(emitted_a, pos_a[key] + 1)
            layers.append(change(rows_a[key], nb))
        else:
            layers.append(change(None, nb))
    layers += [change(rows_a[k], None) for k in keys_a[emitted_a:] if k not in rows_b]
    totals = tuple((m, int(getattr(ra, m)), int(getattr(rb, m))) for m in TOTALS)
    return ReportDiff(name_a or (a if isinstance(a, str) else ra.model),
                      name_b or (b if isinstance(b, str) else rb.model), tuple(layers), totals,
                      tuple(_problems("A", ra) + _problems("B", rb)))
