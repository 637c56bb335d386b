"""Policy for ``layerscope check``: budgets and severities -> violations. Pure functions, no I/O, no torch.

A check run analyzes models (the command does that), then asks this module:

- :func:`filter_codes`: which diagnostics the user selected (``--select`` / ``--ignore``, code prefixes);
- :func:`budget_diagnostics`: which budgets (:class:`Budget`) the report overruns (LS501-LS505);
- :func:`failing` / :func:`exit_code`: which findings are at or above ``--fail-on`` and the exit status.

>>> from layerscope.diagnostics import make
>>> found = [make("LS301", "bias before BN"), make("LS501", "too many params")]
>>> [d.code for d in filter_codes(found, ignore=["LS3"])]
['LS501']
>>> exit_code(found, fail_on="error"), exit_code(found[:1], fail_on="error"), exit_code(found[:1], fail_on="warning")
(1, 0, 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Sequence

from .codes import TRACE_FAILURES
from .diagnostics import SEVERITY_RANK, Diagnostic, make
from .errors import ConfigError

FailOn = Literal["error", "warning", "info"]

#: a failed forward pass is always reported, whatever ``select``/``ignore`` say: the rest of the report
#: (totals, lints) is incomplete without it (as a linter always reports syntax errors)
ALWAYS_REPORTED = TRACE_FAILURES | {"LS203"}  # LS203: the forward returned no tensor (status failed)


def parse_codes(codes: Sequence[str] | str | None) -> tuple[str, ...]:
    """``"LS3, LS110"`` or ``["LS3", "ls110"]`` -> ``("LS3", "LS110")``; ``ALL`` matches every code.

    Refused (LS946): an empty value (``--select ""`` would silently select everything) and a prefix that
    matches no diagnostic code (``LS9``: LS9xx are error codes, which are never findings)."""
    from .diagnostics import CODES

    if codes is None:
        return ()
    items = [codes] if isinstance(codes, str) else list(codes)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"code {item!r} is not a string", hint="codes look like LS301 or a prefix like LS3",
                              code="LS946")
        parts = [p.strip().upper() for p in item.replace(";", ",").split(",")]
        if not any(parts):
            raise ConfigError(f"empty code selection {item!r}", hint="give codes like LS301, prefixes like LS3, "
                              "or ALL; leave the option out to report every code", code="LS946")
        for part in parts:
            if part:
                if not (part == "ALL" or (part.startswith("LS") and part[2:].isdigit()) or part == "LS"):
                    raise ConfigError(f"{part!r} is not a diagnostic code or prefix",
                                      hint="use codes like LS301, prefixes like LS3 (all design lints), or ALL",
                                      code="LS946")
                if part != "ALL" and not any(c.startswith(part) for c in CODES):
                    families = sorted({c[:3] for c in CODES})
                    raise ConfigError(f"{part!r} matches no diagnostic code"
                                      + (" (LS9xx are error codes, never findings)" if part.startswith("LS9")
                                         else ""),
                                      hint="diagnostic codes start with " + ", ".join(families)
                                      + " (see layerscope.diagnostics.CODES)", code="LS946")
                out.append(part)
    return tuple(out)


def code_matches(code: str, prefixes: Iterable[str]) -> bool:
    """True when ``code`` starts with one of ``prefixes`` (``ALL`` matches everything)."""
    return _longest(code, prefixes) >= 0


def _longest(code: str, prefixes: Iterable[str]) -> int:
    """Length of the longest of ``prefixes`` that ``code`` starts with (``ALL``: 0), -1 when none does."""
    code = code.upper()
    return max((0 if p == "ALL" else len(p) for p in prefixes if p == "ALL" or code.startswith(p)), default=-1)


def selected(code: str, *, select: Sequence[str] | str | None = None,
             ignore: Sequence[str] | str | None = None) -> bool:
    """Whether ``code`` is selected: the more specific (longer) matching prefix wins, as in ruff
    (``select=["LS301"], ignore=["LS3"]`` keeps LS301; ``select=["LS3"], ignore=["LS301"]`` drops it); on a tie
    ``ignore`` wins. No ``select`` selects every code."""
    sel, ign = parse_codes(select), parse_codes(ignore)
    s = _longest(code, sel) if sel else 0
    return s >= 0 and s > _longest(code, ign)


def filter_codes(diagnostics: Iterable[Diagnostic], *, select: Sequence[str] | str | None = None,
                 ignore: Sequence[str] | str | None = None) -> list[Diagnostic]:
    """Keep diagnostics whose code is :func:`selected` by ``select`` / ``ignore``.

    Trace failures (:data:`ALWAYS_REPORTED`) are always kept.
    """
    sel, ign = parse_codes(select), parse_codes(ignore)
    return [d for d in diagnostics
            if (d.code in ALWAYS_REPORTED and d.severity == "error") or selected(d.code, select=sel, ignore=ign)]


@dataclass(frozen=True)
class Budget:
    """Limits a model must stay within (None: no limit)."""

    max_params: int | None = None
    max_macs: int | None = None
    max_activation_bytes: int | None = None
    min_receptive_field: int | None = None

    @property
    def empty(self) -> bool:
        return all(v is None for v in (self.max_params, self.max_macs, self.max_activation_bytes,
                                       self.min_receptive_field))

    def merged(self, other: "Budget") -> "Budget":
        """``other``'s limits where set, else this one's (command-line flags over the config file)."""
        return Budget(*(b if b is not None else a for a, b in zip(
            (self.max_params, self.max_macs, self.max_activation_bytes, self.min_receptive_field),
            (other.max_params, other.max_macs, other.max_activation_bytes, other.min_receptive_field))))


_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "KB": 10**3, "MB": 10**6, "GB": 10**9,
           "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "B": 1}


def parse_quantity(value: Any, *, what: str = "budget") -> int:
    """``25_000_000``, ``"25M"``, ``"4.1G"``, ``"512MiB"`` -> an int (decimal K/M/G/T, binary KiB/MiB/GiB)."""
    if isinstance(value, bool):
        raise ConfigError(f"{what} {value!r} is not a number", hint="e.g. 25000000 or \"25M\"", code="LS947")
    if isinstance(value, (int, float)):
        if value < 0 or (isinstance(value, float) and not math.isfinite(value)):
            raise ConfigError(f"{what} {value!r} must be a non-negative number", code="LS947")
        return int(value)
    if isinstance(value, str):
        text = value.strip().replace("_", "").replace(",", "").upper()
        num = text.rstrip("KMGTIB")
        suffix = text[len(num):]
        try:
            number = float(num)
        except ValueError:
            number = None
        if number is not None and suffix in _SUFFIX:
            if number < 0 or not math.isfinite(number):
                raise ConfigError(f"{what} {value!r} must be a non-negative number", hint="e.g. 25000000, "
                                  "\"25M\", \"4.1G\" or \"512MiB\"", code="LS947")
            return int(round(number * _SUFFIX[suffix]))
    raise ConfigError(f"{what} {value!r} is not a number", hint="e.g. 25000000, \"25M\", \"4.1G\" or \"512MiB\"",
                      code="LS947")


def human(n: float, unit: str = "") -> str:
    """``25557032`` -> ``25.56M`` (decimal prefixes, as budgets are written)."""
    for div, p in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= div:
            return f"{n / div:.4g}{p}{unit}"
    return f"{n:g}{unit}"


def _rf_size(report: Any) -> tuple[int | None, str]:
    """The smallest receptive-field side of the model's output (the local, convolutional field), if known."""
    rf = report.receptive_field
    if rf is None:
        return None, "no receptive field (the trace did not reach the output)"
    sizes = rf.local_size or rf.size
    if not sizes or any(s is None for s in sizes):
        return None, "the receptive field could not be determined for this model"
    return int(min(sizes)), ""


def budget_diagnostics(report: Any, budget: Budget, *, module: str | None = None,
                       source: str | None = None) -> list[Diagnostic]:
    """Budget overruns of one report as diagnostics: LS501 params, LS502 MACs, LS503 activation bytes,
    LS504 receptive field; LS505 when a budget cannot be verified (partial totals, no field)."""
    out: list[Diagnostic] = []
    where = {"module": module, "source": source}
    incomplete = not getattr(report, "traced", True)

    def over(code: str, value: int, limit: int | None, what: str, unit: str = "", partial: bool = False) -> None:
        if limit is None:
            return
        if value > limit:
            out.append(make(code, f"{what} {human(value, unit)} ({value:,}) exceed the budget of "
                                  f"{human(limit, unit)} ({limit:,})" + (" (a lower bound: totals are partial)"
                                                                          if partial else ""),
                            hint=f"shrink the model or raise the budget ({what} <= {limit:,})", value=value,
                            limit=limit, **where))
        elif partial:
            out.append(make("LS505", f"{what} {human(value, unit)} are within the budget of {human(limit, unit)} "
                                     f"but only as a lower bound: the totals are partial",
                            hint="see LS201 (ops without a counting rule) or the failed trace", value=value,
                            limit=limit, budget=code, **where))

    over("LS501", int(report.total_params), budget.max_params, "parameters")
    over("LS502", int(report.total_macs), budget.max_macs, "MACs",
         partial=incomplete or not getattr(report, "complete", True))
    over("LS503", int(report.activation_bytes), budget.max_activation_bytes, "activation bytes", "B",
         partial=incomplete)
    if budget.min_receptive_field is not None:
        size, why = _rf_size(report)
        if size is None:
            out.append(make("LS505", f"min_receptive_field {budget.min_receptive_field} cannot be verified: {why}",
                            hint="fix the trace, or drop the budget for this model", budget="LS504", **where))
        elif size < budget.min_receptive_field:
            out.append(make("LS504", f"receptive field {size} px is smaller than the required "
                                     f"{budget.min_receptive_field} px",
                            hint="add downsampling or larger/dilated kernels, or lower min_receptive_field",
                            value=size, limit=budget.min_receptive_field, **where))
    return out


def check_fail_on(fail_on: str) -> FailOn:
    if fail_on not in SEVERITY_RANK:
        raise ConfigError(f"fail-on {fail_on!r} is not one of error, warning, info",
                          hint="use --fail-on error (default) or --fail-on warning", code="LS948")
    return fail_on  # type: ignore[return-value]


def at_or_above(diagnostic: Diagnostic, fail_on: str) -> bool:
    return SEVERITY_RANK.get(diagnostic.severity, 0) >= SEVERITY_RANK[check_fail_on(fail_on)]


def failing(diagnostics: Iterable[Diagnostic], fail_on: str = "error") -> list[Diagnostic]:
    """The findings that make the check fail."""
    return [d for d in diagnostics if at_or_above(d, fail_on)]


def exit_code(diagnostics: Iterable[Diagnostic], fail_on: str = "error") -> int:
    """0 when nothing is at or above ``fail_on``, else 1 (2, misuse or load failure, is the command's)."""
    return 1 if failing(diagnostics, fail_on) else 0


def counts(diagnostics: Iterable[Diagnostic]) -> dict[str, int]:
    """``{"error": n, "warning": n, "info": n}``."""
    out = {"error": 0, "warning": 0, "info": 0}
    for d in diagnostics:
        out[d.severity] = out.get(d.severity, 0) + 1
    return out


__all__ = ["ALWAYS_REPORTED", "Budget", "FailOn", "at_or_above", "budget_diagnostics", "code_matches", "counts",
           "exit_code", "failing", "filter_codes", "human", "parse_codes", "parse_quantity", "selected"]
