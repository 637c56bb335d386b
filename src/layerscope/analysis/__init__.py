"""Analyzers: each reads the traced :class:`~layerscope.graph.Graph` and returns plain data. No torch here.

An analyzer is ``Callable[[Context], AnalyzerResult | list[Diagnostic]]``: its findings, plus per-node columns
(``{node id: {column: value}}``, e.g. the window formula or the receptive field) and summaries (e.g. the
output's receptive field) that :func:`layerscope.analyze` stores in the :class:`~layerscope.report.Report`, so
that a Report renders without running any analysis again.
"""

from __future__ import annotations

from typing import Any

from ..diagnostics import Diagnostic
from . import cost, dense, lints, receptive_field, shapes, trace_notes, upper_bound
from .context import Analyzer, AnalyzerResult, Context

__all__ = ["Analyzer", "AnalyzerResult", "Context", "default_analyzers", "run_analyzers"]


def default_analyzers() -> list[Analyzer]:
    return [shapes.analyze_failures, shapes.analyze_formulas, shapes.analyze_windows, cost.analyze_coverage,
            trace_notes.analyze_trace_notes, receptive_field.analyze_receptive_field, dense.analyze_dense_output,
            *lints.ANALYZERS, upper_bound.analyze_upper_bound]


def run_analyzers(ctx: Context, analyzers: list[Analyzer] | None = None) -> AnalyzerResult:
    """Run ``analyzers`` (default: :func:`default_analyzers`) and merge what they return, in order."""
    diagnostics: list[Diagnostic] = []
    columns: dict[int, dict[str, Any]] = {}
    summary: dict[str, Any] = {}
    for analyzer in analyzers if analyzers is not None else default_analyzers():
        got = analyzer(ctx)
        if not isinstance(got, AnalyzerResult):
            got = AnalyzerResult(tuple(got))
        diagnostics.extend(got.diagnostics)
        for nid, cols in got.columns.items():
            columns.setdefault(nid, {}).update(cols)
        summary.update(got.summary)
    return AnalyzerResult(tuple(diagnostics), columns, summary)
