"""What analyzers read (:class:`Context`) and what they return (:class:`AnalyzerResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Union

from ..diagnostics import Diagnostic
from ..graph import Graph


@dataclass(frozen=True)
class Context:
    """What analyzers may read besides the graph: the trace's failure(s) and the parameter facts."""

    graph: Graph
    failures: tuple[Any, ...] = ()
    unused_params: tuple[str, ...] = ()
    mode: str = "eval"
    #: facts about the run, not the graph: ``default_batch`` (the batch is layerscope's default of 1),
    #: ``hook_failures`` (user hooks skipped on meta tensors), ``output_type`` (what a tensor-less forward returned)
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalyzerResult:
    """What one analyzer (or all of them, merged) found: diagnostics, per-node columns and summaries."""

    diagnostics: tuple[Diagnostic, ...] = ()
    columns: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    summary: Mapping[str, Any] = field(default_factory=dict)


Analyzer = Callable[[Context], Union[AnalyzerResult, "list[Diagnostic]"]]
