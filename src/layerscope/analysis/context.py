"""What analyzers read (:class:`Context`), what they return (:class:`AnalyzerResult`) and how each declares the
codes it may emit (:func:`analyzer` -> :class:`AnalyzerSpec`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Union

from ..codes import CODES
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


#: the function behind an analyzer
AnalyzerFn = Callable[[Context], Union[AnalyzerResult, "list[Diagnostic]"]]


class AnalyzerContractError(AssertionError):
    """An analyzer returned a code it does not declare (or data without ``data=True``): a bug in layerscope, not in the user's model (so not a
    coded :class:`~layerscope.errors.LayerscopeError`; the CLI reports it as its last-resort LS900)."""


@dataclass(frozen=True)
class AnalyzerSpec:
    """One analyzer: its name, the diagnostic codes it may emit and whether it also produces report data
    (per-node ``columns`` or ``summary`` entries).

    ``run_analyzers`` skips an analyzer whose every code is deselected and that produces no data, and refuses a
    code the analyzer returns without declaring it (:class:`AnalyzerContractError`)."""

    name: str  # ``layerscope.analysis.lints.lint_conv_bias_before_bn``
    codes: tuple[str, ...]
    fn: AnalyzerFn
    produces_data: bool = False

    def __post_init__(self) -> None:
        for code in self.codes:
            entry = CODES.get(code)
            if entry is None or entry.kind != "diagnostic":
                raise ValueError(f"analyzer {self.name} declares {code!r}, which is not a diagnostic code of "
                                 "layerscope.codes.TABLE")

    @property
    def module(self) -> str:
        """The analyzer's module relative to the package, as ``codes.TABLE`` writes places:
        ``analysis/lints.py``."""
        mod = self.name.rpartition(".")[0]
        return mod.removeprefix("layerscope.").replace(".", "/") + ".py"

    def __call__(self, ctx: Context) -> AnalyzerResult:
        """Run the analyzer; a returned code that is not declared raises :class:`AnalyzerContractError`."""
        got = self.fn(ctx)
        result = got if isinstance(got, AnalyzerResult) else AnalyzerResult(tuple(got))
        undeclared = sorted({d.code for d in result.diagnostics} - set(self.codes))
        if undeclared:
            raise AnalyzerContractError(
                f"analyzer {self.name} returned {', '.join(undeclared)}, which it does not declare (it declares "
                f"{', '.join(self.codes) or 'no code'}): a bug in layerscope; add the code to its @analyzer(...) "
                "declaration and to codes.TABLE")
        if (result.columns or result.summary) and not self.produces_data:
            raise AnalyzerContractError(f"analyzer {self.name} returned report data but is declared without "
                                      "data=True: selection would skip it")
        return result

    def wanted(self, wants: Callable[[str], bool]) -> bool:
        """Whether the analyzer must run when ``wants(code)`` says which codes the caller keeps."""
        return self.produces_data or any(wants(c) for c in self.codes)


def analyzer(*codes: str | Iterable[str], data: bool = False) -> Callable[[AnalyzerFn], AnalyzerSpec]:
    """Declare an analyzer and the codes it may emit: ``@analyzer("LS301")`` over ``def lint_...(ctx)``;
    ``data=True`` when it also returns per-node columns or summaries (then it runs whatever the selection).

    Codes are given one by one or as iterables (``@analyzer(TRACE_FAILURES)``), in code-table order."""

    flat = tuple(sorted({c for item in codes for c in ([item] if isinstance(item, str) else item)}))

    def wrap(fn: AnalyzerFn) -> AnalyzerSpec:
        return AnalyzerSpec(f"{fn.__module__}.{fn.__name__}", flat, fn, data)

    return wrap


#: what ``run_analyzers`` accepts
Analyzer = AnalyzerSpec
