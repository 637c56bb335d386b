"""Compare architectures: the classic table (params, MACs, FLOPs, activation memory, receptive field, depth)
as a DataFrame and markdown, and a params-vs-MACs scatter with the Pareto frontier.

>>> import torchvision, layerscope
>>> cmp = layerscope.compare([torchvision.models.resnet18(), torchvision.models.resnet50()],
...                          names=["resnet18", "resnet50"], input_size=224)
>>> cmp.table[["model", "params_M", "macs_G", "depth"]].values.tolist()
[['resnet18', 11.7, 1.81, 18], ['resnet50', 25.6, 4.09, 50]]
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Sequence

from .report import Report

#: columns of :attr:`Comparison.table`, display columns first then the exact integers they are rounded from
COMPARE_COLUMNS = ["model", "params_M", "macs_G", "flops_G", "activation_MiB", "rf", "depth", "status", "params",
                   "macs", "flops", "activation_bytes", "input"]

Progress = Callable[[int, int, str], None]
#: columns that hold counts: nullable integers (pandas ``Int64``), so an unknown value (a receptive field
#: that could not be followed) is ``<NA>`` and does not turn the column into floats
INTEGER_COLUMNS = ["rf", "depth", "params", "macs", "flops", "activation_bytes"]


def integer_columns(df: Any, columns: Sequence[str]) -> Any:
    """``df`` with ``columns`` as nullable ``Int64`` (None/NaN -> ``<NA>``)."""
    for c in columns:
        if c in df.columns:
            df[c] = df[c].astype("Int64")
    return df


def weight_depth(report: Report) -> int:
    """Depth in weight layers: the most conv/linear/attention module calls (modules that do MACs) on any path
    from an input to an output. This is the number in a network's name (VGG-16, ResNet-50, DenseNet-121):
    projection shortcuts run beside the main path and do not add to it."""
    graph = report.layer_graph
    best: dict[int, int] = {}
    for n in graph.nodes:  # ids are in execution order, so producers come first
        own = 1 if n.kind == "module" and n.macs > 0 else 0
        best[n.id] = own + max((best.get(p, 0) for p in graph.predecessors(n.id)), default=0)
    ends = [t.producer for t in graph.outputs if t.producer is not None]
    if not ends:
        return max(best.values(), default=0)
    return max(best[e] for e in ends)


def _rounded(value: float, digits: int) -> float:
    """``digits`` decimals, or 3 significant digits for values that would round to 0 (a 38K-param model is
    0.0382 M params, not 0.0)."""
    import math

    if value == 0 or abs(value) >= 10 ** -digits:
        return round(value, digits)
    return round(value, 2 - int(math.floor(math.log10(abs(value)))))


def summary_row(report: Report, name: str | None = None) -> dict[str, Any]:
    """One comparison row for ``report`` (see :data:`COMPARE_COLUMNS`)."""
    from .render._format import shape
    from .render.table import final_rf, rf_value

    rf = rf_value(final_rf(report))
    return {
        "model": name or report.model,
        "params_M": _rounded(report.total_params / 1e6, 1),
        "macs_G": _rounded(report.total_macs / 1e9, 2),
        "flops_G": _rounded(report.total_flops / 1e9, 2),
        "activation_MiB": _rounded(report.activation_bytes / 2 ** 20, 1),
        "rf": None if rf is None else int(rf),
        "depth": weight_depth(report),
        "status": report.status,
        "params": report.total_params, "macs": report.total_macs, "flops": report.total_flops,
        "activation_bytes": report.activation_bytes,
        "input": ", ".join(shape(t.shape) for t in report.inputs),
    }


def _name_of(item: Any, index: int) -> str:
    if isinstance(item, str):
        return item.rpartition(":")[2] or item
    if isinstance(item, Report):
        return item.model
    return type(item).__name__ if item is not None else f"model{index}"


def read_report(path: str) -> Report:
    """A report saved with ``layerscope analyze ... --format json -o PATH``; a missing file, a file that is not
    JSON and JSON that is not a layerscope report are coded errors (LS971, LS972), never a traceback."""
    import json

    from .errors import ConfigError

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read report {path}: {exc.strerror or exc}",
                          hint="give a JSON report written by `layerscope analyze SPEC -s SIZE -o PATH.json`, or a "
                               "model SPEC", code="LS971") from exc
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not a layerscope JSON report: it is not JSON ({exc})",
                          hint="write one with `layerscope analyze SPEC -s SIZE -o PATH.json`", code="LS972") from exc
    if not isinstance(data, dict) or "schema_version" not in data or "graph" not in data:
        raise ConfigError(f"{path} is not a layerscope JSON report (no schema_version and graph)",
                          hint="write one with `layerscope analyze SPEC -s SIZE -o PATH.json`", code="LS972")
    try:
        return Report.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        if getattr(exc, "code", None):  # a LayerscopeError (schema version)
            raise
        raise ConfigError(f"{path} is not a complete layerscope JSON report ({type(exc).__name__}: {exc})",
                          hint="regenerate it with `layerscope analyze SPEC -s SIZE -o PATH.json`",
                          code="LS972") from exc


def _to_report(item: Any, input_size: Any, analyze_kwargs: dict[str, Any]) -> Report:
    if isinstance(item, Report):
        return item
    from .api import analyze

    if isinstance(item, str):
        if item.endswith(".json") and ":" not in item:
            return read_report(item)
        from .loading import load_model

        item = load_model(item)
    return analyze(item, input_size=input_size, **analyze_kwargs)


@dataclass(frozen=True)
class Comparison:
    """Reports of several models side by side. ``table`` is a DataFrame, one row per model."""

    names: tuple[str, ...]
    reports: tuple[Report, ...]

    @cached_property
    def rows(self) -> list[dict[str, Any]]:
        return [summary_row(r, n) for n, r in zip(self.names, self.reports)]

    @cached_property
    def table(self) -> Any:
        from .errors import require

        pd = require("pandas", "layerscope.compare")
        return integer_columns(pd.DataFrame(self.rows, columns=COMPARE_COLUMNS), INTEGER_COLUMNS)

    def pareto(self) -> list[bool]:
        """True for models on the params/MACs Pareto frontier (no other model has fewer of both); a model
        whose trace failed is never on it (its counts stop at the error)."""
        from .render.plots import pareto_mask

        ok = [r["status"] != "failed" for r in self.rows]
        points = [(r["params"], r["macs"]) if good else (None, None) for r, good in zip(self.rows, ok)]
        return [bool(on) and good for on, good in zip(pareto_mask(points), ok)]

    def __repr__(self) -> str:  # short: the reports are in .reports, the numbers in .table
        return f"<Comparison of {len(self.names)} models: {', '.join(self.names[:6])}" + \
            (" ...>" if len(self.names) > 6 else ">")

    def to_markdown(self, *, plot: str | None = None, title: str | None = "Comparison") -> str:
        """The comparison table in markdown (``plot``: file name of the scatter to link below it)."""
        return comparison_markdown(self, plot=plot, title=title)

    def to_csv(self) -> str:
        return self.table.to_csv(index=False, lineterminator="\n")

    def plot(self, ax: Any = None) -> Any:
        """MACs against parameters, one labelled point per model, Pareto frontier marked."""
        from .render.plots import plot_pareto

        return plot_pareto(self.table, "params", "macs", label="model", ax=ax)

    def _repr_html_(self) -> str:
        return self.table.to_html(index=False)


def _num(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if value == 0 or abs(value) >= 10 ** -digits else f"{value:.3g}"


def comparison_markdown(comparison: Comparison, *, plot: str | None = None, title: str | None = "Comparison") -> str:
    """The classic table (Pareto-frontier models in bold) with a note on each column's meaning."""
    from .render._format import human_bytes
    from .render.plots import pareto_title

    front = comparison.pareto()
    lines = [f"# {title}", ""] if title else []
    lines += ["| model | input | params (M) | MACs (G) | FLOPs (G) | activations | receptive field | depth | "
              "status |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r, on_front in zip(comparison.rows, front):
        name = f"**{r['model']}**" if on_front else r["model"]
        rf = "-" if r["rf"] is None else str(r["rf"])
        lines.append(f"| {name} | {r['input']} | {_num(r['params_M'], 1)} | {_num(r['macs_G'], 2)} | "
                     f"{_num(r['flops_G'], 2)} | "
                     f"{human_bytes(r['activation_bytes'])} | {rf} | {r['depth']} | {r['status']} |")
    lines += ["", "Bold: on the params/MACs Pareto frontier (no other model has both fewer parameters and fewer "
              "MACs). Depth: weight layers (conv/linear/attention) on the longest input-to-output path. "
              "Receptive field: the local field (px) of the convolutional path at the output, global heads aside. "
              "Activations: every freshly allocated layer output of one forward pass. MACs/FLOPs convention: "
              "torchvision's (see any single report)."]
    if plot:
        lines += ["", f"![{pareto_title('params', 'macs')}]({plot})"]
    return "\n".join(lines) + "\n"


def compare(models: Sequence[Any], *, input_size: Any = 224, names: Sequence[str] | None = None,
            progress: Progress | None = None, **analyze_kwargs: Any) -> Comparison:
    """Analyze every model (``nn.Module`` instances, SPEC strings like ``torchvision:resnet50``, saved
    ``.json`` reports, or :class:`Report` objects) at ``input_size`` and put them side by side.

    ``names`` label the rows (default: the SPEC's attribute or the model's class name). ``progress(i, n,
    name)`` is called after each model (the CLI draws a progress bar with it; the library itself is silent).
    Extra keyword arguments go to :func:`layerscope.analyze`.
    """
    from .errors import ConfigError

    models = list(models)
    if names is not None and len(names) != len(models):
        raise ConfigError(f"{len(names)} names for {len(models)} models", hint="give one name per model",
                          code="LS964")
    labels = list(names) if names is not None else [_name_of(m, i) for i, m in enumerate(models)]
    reports = []
    for i, (item, label) in enumerate(zip(models, labels)):
        reports.append(_to_report(item, input_size, analyze_kwargs))
        if progress is not None:
            progress(i + 1, len(models), label)
    return Comparison(tuple(labels), tuple(reports))
