"""Analyzers: each reads the traced :class:`~layerscope.graph.Graph` and returns plain data. No torch here.

An analyzer is a function ``Context -> AnalyzerResult | list[Diagnostic]`` declared with
``@analyzer("LS301", ...)`` (:func:`~layerscope.analysis.context.analyzer`), which makes it an
:class:`AnalyzerSpec`: its name, the codes it may emit and whether it produces report data. It returns its
findings, plus per-node columns (``{node id: {column: value}}``, e.g. the window formula or the receptive field)
and summaries (e.g. the output's receptive field) that :func:`layerscope.analyze` stores in the
:class:`~layerscope.report.Report`, so that a Report renders without running any analysis again.
"""

from __future__ import annotations

from typing import Any, Callable

from ..diagnostics import Diagnostic
from . import cost, dense, lints, receptive_field, shapes, trace_notes, upper_bound
from .context import Analyzer, AnalyzerContractError, AnalyzerResult, AnalyzerSpec, Context, analyzer

__all__ = ["Analyzer", "AnalyzerContractError", "AnalyzerResult", "AnalyzerSpec", "Context", "analyzer",
           "default_analyzers", "emitter", "run_analyzers"]


def default_analyzers() -> list[AnalyzerSpec]:
    return [shapes.analyze_failures, shapes.analyze_formulas, shapes.analyze_windows, cost.analyze_coverage,
            trace_notes.analyze_trace_notes, receptive_field.analyze_receptive_field, dense.analyze_dense_output,
            *lints.ANALYZERS, upper_bound.analyze_upper_bound]


def emitter(code: str) -> AnalyzerSpec | None:
    """The default analyzer that declares ``code`` (None: the code is not a finding of an analyzer, e.g. a
    budget LS5xx or an exception LS9xx)."""
    return next((a for a in default_analyzers() if code in a.codes), None)


def run_analyzers(ctx: Context, analyzers: list[AnalyzerSpec] | None = None, *,
                  wants: Callable[[str], bool] | None = None) -> AnalyzerResult:
    """Run ``analyzers`` (default: :func:`default_analyzers`) and merge what they return, in order.

    ``wants(code)``: whether the caller keeps findings of ``code`` (its select/ignore policy; None: every code).
    An analyzer none of whose declared codes is wanted and that produces no report data is not run; one that
    produces data runs, and the caller filters its findings. A returned code the analyzer does not declare
    raises :class:`AnalyzerContractError` (a bug in layerscope)."""
    diagnostics: list[Diagnostic] = []
    columns: dict[int, dict[str, Any]] = {}
    summary: dict[str, Any] = {}
    for spec in analyzers if analyzers is not None else default_analyzers():
        if not isinstance(spec, AnalyzerSpec):
            raise TypeError(f"{spec!r} is not an analyzer: declare it with @analyzer(codes..., data=...) "
                            "(layerscope.analysis.analyzer)")
        if wants is not None and not spec.wanted(wants):
            continue
        got = spec(ctx)
        diagnostics.extend(got.diagnostics)
        for nid, cols in got.columns.items():
            columns.setdefault(nid, {}).update(cols)
        summary.update(got.summary)
    return AnalyzerResult(tuple(diagnostics), columns, summary)
