"""Analyzers: each reads the traced :class:`~layerscope.graph.Graph` and returns findings. No torch here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..diagnostics import Diagnostic
from ..graph import Graph


@dataclass(frozen=True)
class Context:
    """What analyzers may read besides the graph: the trace's failure(s) and the parameter facts."""

    graph: Graph
    failures: tuple[Any, ...] = ()
    unused_params: tuple[str, ...] = ()
    mode: str = "eval"
    options: dict[str, Any] = field(default_factory=dict)


Analyzer = Callable[[Context], list[Diagnostic]]


def default_analyzers() -> list[Analyzer]:
    from . import cost, shapes

    found: list[Analyzer] = [shapes.analyze_failures, shapes.analyze_windows, cost.analyze_coverage]
    try:  # receptive-field findings at merges (LS401-LS404)
        from .receptive_field import analyze_receptive_field

        found.append(analyze_receptive_field)
    except ImportError:
        pass
    try:  # optional analyzers registered by other modules of the package
        from . import lints

        found.extend(lints.ANALYZERS)
    except ImportError:
        pass
    return found


def run_analyzers(ctx: Context, analyzers: list[Analyzer] | None = None) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for analyzer in analyzers if analyzers is not None else default_analyzers():
        out.extend(analyzer(ctx))
    return out
