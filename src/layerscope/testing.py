"""Helpers for test suites: assert that a model traces without shape bugs (and within a budget).

>>> import torch
>>> from layerscope.testing import assert_shapes_ok
>>> report = assert_shapes_ok(torch.nn.Conv2d(3, 8, 3), input_size=32)
>>> report.ok
True
"""

from __future__ import annotations

from typing import Any, Sequence

from .check import Budget, at_or_above, budget_diagnostics, filter_codes


def assert_shapes_ok(
    model: Any,
    input_size: Any = None,
    *,
    inputs: Any = None,
    kwargs: dict[str, Any] | None = None,
    batch_size: int | None = None,
    mode: str = "eval",
    fail_on: str = "error",
    select: Sequence[str] | str | None = None,
    ignore: Sequence[str] | str | None = None,
    max_params: int | str | None = None,
    max_macs: int | str | None = None,
    max_activation_bytes: int | str | None = None,
    min_receptive_field: int | str | None = None,
) -> Any:
    """Analyze ``model`` and raise ``AssertionError`` listing every finding at or above ``fail_on``
    (``"error"`` by default: shape bugs and budget overruns; ``"warning"`` also fails on design lints).

    Budgets are ints or the strings ``layerscope check`` and ``[tool.layerscope]`` accept (``"25M"``,
    ``"4.1G"``, ``"200MiB"``); anything else is a coded error (LS947).

    Returns the :class:`~layerscope.report.Report` when the model passes, for further assertions.
    """
    from .api import analyze
    from .check import parse_quantity

    limits = {}
    for key, value in (("max_params", max_params), ("max_macs", max_macs),
                       ("max_activation_bytes", max_activation_bytes), ("min_receptive_field", min_receptive_field)):
        limits[key] = None if value is None else parse_quantity(value, what=key)

    report = analyze(model, input_size, inputs=inputs, kwargs=kwargs, batch_size=batch_size, mode=mode,  # type: ignore[arg-type]
                      select=select, ignore=ignore)  # deselected analyzers do not run
    budget = Budget(**limits)
    found = filter_codes(list(report.diagnostics) + budget_diagnostics(report, budget), select=select,
                         ignore=ignore)
    bad = [d for d in found if at_or_above(d, fail_on)]
    if bad:
        size = input_size if input_size is not None else "the given inputs"
        lines = [f"{report.model} at input {size}: {len(bad)} finding(s) at or above {fail_on}:"]
        for d in bad:
            where = f"{d.source}: " if d.source else ""
            lines.append(f"  {where}{d}")
        raise AssertionError("\n".join(lines))
    return report


__all__ = ["assert_shapes_ok"]
