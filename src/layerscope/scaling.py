"""Scaling studies: cost against input resolution, compound scaling of a model family, and sweeps over a
search space of architectures (optionally on a process pool or a Dask cluster).

>>> import torchvision, layerscope
>>> study = layerscope.scale(torchvision.models.resnet18(), [112, 224, 448])
>>> round(study.exponent("macs"), 1)          # MACs grow with resolution**2 for a CNN
2.0
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Iterable, Mapping, Sequence

Progress = Callable[[int, int, str], None]


# ---------------------------------------------------------------------------------------------- power laws
def fit_power_law(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Least-squares fit of ``y = a * x**k`` on log-log axes; returns ``(k, a)``. Needs two or more points with
    positive values (others are ignored)."""
    pts = [(math.log(a), math.log(b)) for a, b in zip(x, y) if a > 0 and b > 0]
    if len(pts) < 2:
        raise ValueError("a power-law fit needs at least two positive points")
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        raise ValueError("a power-law fit needs at least two different x values")
    k = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
    return k, math.exp(my - k * mx)


# ---------------------------------------------------------------------------------------------- resolution
SCALE_COLUMNS = ["resolution", "params", "macs", "flops", "activation_bytes", "status"]


@dataclass(frozen=True)
class ScalingStudy:
    """Cost of one model at several input resolutions."""

    model: str
    rows: tuple[Mapping[str, Any], ...]
    #: ``(resolution, diagnostic)`` of the first error of every resolution whose trace failed
    failures: tuple[tuple[int, Any], ...] = ()

    @cached_property
    def table(self) -> Any:
        from .errors import require

        pd = require("pandas", "layerscope.scale")
        return pd.DataFrame([dict(r) for r in self.rows], columns=SCALE_COLUMNS)

    @property
    def fittable(self) -> bool:
        """True when two or more resolutions traced with positive MACs and activations (a power law fits)."""
        try:
            self.fit("macs")
            self.fit("activation_bytes")
        except ValueError:
            return False
        return True

    def fit(self, metric: str = "macs") -> tuple[float, float]:
        """``(k, a)`` of ``metric = a * resolution**k`` fitted over the traced resolutions."""
        ok = [r for r in self.rows if r["status"] != "failed"]
        return fit_power_law([r["resolution"] for r in ok], [r[metric] for r in ok])

    def exponent(self, metric: str = "macs") -> float:
        """The fitted exponent: about 2 for a CNN's MACs (every conv's output area grows with resolution**2)."""
        return self.fit(metric)[0]

    def plot(self, ax: Any = None) -> Any:
        from .render.plots import plot_scaling

        fits = {m: self.fit(m) for m in ("macs", "activation_bytes")} if self.fittable else {}
        return plot_scaling(self.table, fits=fits, title=f"{self.model}: cost against resolution", ax=ax)

    def to_markdown(self, *, plot: str | None = None, title: str | None = None) -> str:
        from .render._format import human, human_bytes

        out = [f"# {title or self.model + ': cost against resolution'}", "",
               "| resolution | params | MACs | FLOPs | activations | status |", "|---:|---:|---:|---:|---:|---|"]
        for r in self.rows:
            out.append(f"| {r['resolution']} | {r['params']:,} | {r['macs']:,} ({human(r['macs'])}) | "
                       f"{human(r['flops'])} | {human_bytes(r['activation_bytes'])} | {r['status']} |")
        if self.fittable:
            k_macs, k_act = self.exponent("macs"), self.exponent("activation_bytes")
            out += ["", f"Fitted power laws (least squares on log-log axes): MACs ~ resolution^{k_macs:.2f}, "
                        f"activation memory ~ resolution^{k_act:.2f}. A fully convolutional network gives exactly "
                        "2; a fixed-size head (a linear layer after global pooling) pulls the fit slightly below 2."]
        else:
            out += ["", "No power law fitted: it needs two or more resolutions that traced."]
        for r, d in self.failures:
            out += ["", f"- at {r}: {d.code} {d.message.splitlines()[0]}"]
        if plot:
            out += ["", f"![cost against resolution]({plot})"]
        return "\n".join(out) + "\n"


def scale(model: Any, resolutions: Iterable[int], *, channels: int = 3, batch_size: int = 1,
          progress: Progress | None = None, name: str | None = None, **analyze_kwargs: Any) -> ScalingStudy:
    """Analyze ``model`` (an ``nn.Module`` or a SPEC string) at each square input ``resolution`` and collect
    params, MACs, FLOPs and activation memory (see :meth:`ScalingStudy.exponent` for the fitted growth)."""
    from .api import analyze

    label = name or (model.rpartition(":")[2] if isinstance(model, str) else type(model).__name__)
    if isinstance(model, str):
        from .loading import load_model

        model = load_model(model)
    res = [int(r) for r in resolutions]
    rows = []
    failures = []
    for i, r in enumerate(res):
        rep = analyze(model, input_size=(batch_size, channels, r, r), **analyze_kwargs)
        rows.append({"resolution": r, "params": rep.total_params, "macs": rep.total_macs,
                     "flops": rep.total_flops, "activation_bytes": rep.activation_bytes, "status": rep.status})
        if rep.errors:
            failures.append((r, rep.errors[0]))
        if progress is not None:
            progress(i + 1, len(res), f"{label} @ {r}")
    return ScalingStudy(label, tuple(rows), tuple(failures))


# ---------------------------------------------------------------------------------------------- compound
#: EfficientNet's compound coefficients per variant: (width multiplier, depth multiplier), as torchvision
#: builds them (torchvision/models/efficientnet.py, efficientnet_b0..b7; Tan & Le 2019, Table/Sec. 3.3).
#: These are the published *inputs* of the rule; the resolutions come from each variant's weights transforms.
EFFICIENTNET_COEFFICIENTS: dict[str, tuple[float, float]] = {
    "efficientnet_b0": (1.0, 1.0), "efficientnet_b1": (1.0, 1.1), "efficientnet_b2": (1.1, 1.2),
    "efficientnet_b3": (1.2, 1.4), "efficientnet_b4": (1.4, 1.8), "efficientnet_b5": (1.6, 2.2),
    "efficientnet_b6": (1.8, 2.6), "efficientnet_b7": (2.0, 3.1),
}


@dataclass(frozen=True)
class FamilyMember:
    """One model of a compound-scaled family: how to build it, its resolution and nominal multipliers."""

    name: str
    build: Callable[[], Any]
    resolution: int
    width: float = 1.0
    depth: float = 1.0


def _torchvision_builder(name: str) -> Callable[[], Any]:
    def build() -> Any:
        from .loading import load_model

        return load_model(f"torchvision:{name}")

    return build


def efficientnet_family(variants: Iterable[int] = range(8)) -> list[FamilyMember]:
    """torchvision's EfficientNet-B0..B7 at their published resolutions (read from the weights' inference
    transforms, ``weights.transforms().crop_size``; nothing is downloaded)."""
    from .errors import require

    tv = require("torchvision", "efficientnet_family")
    out = []
    for i in variants:
        name = f"efficientnet_b{i}"
        weights = tv.models.get_model_weights(name).DEFAULT
        crop = weights.transforms().crop_size
        width, depth = EFFICIENTNET_COEFFICIENTS[name]
        out.append(FamilyMember(name, _torchvision_builder(name), int(crop[0]), width, depth))
    return out


COMPOUND_COLUMNS = ["model", "resolution", "width", "depth", "weight_layers", "params", "macs", "step",
                    "measured_ratio", "predicted_ratio", "ratio_error", "predicted_ratio_layers"]


@dataclass(frozen=True)
class CompoundStudy:
    """MACs of each family member and, per step, the measured growth against the compound-scaling rule
    ``FLOPs ~ depth * width**2 * resolution**2``."""

    rows: tuple[Mapping[str, Any], ...]

    @cached_property
    def table(self) -> Any:
        from .errors import require

        pd = require("pandas", "layerscope.scaling.compound_scaling")
        return pd.DataFrame([dict(r) for r in self.rows], columns=COMPOUND_COLUMNS)

    def plot(self, ax: Any = None) -> Any:
        from .render.plots import plot_compound

        return plot_compound(self.table, ax=ax)

    def to_markdown(self, *, plot: str | None = None, title: str = "Compound scaling") -> str:
        out = [f"# {title}", "", "| model | resolution | width | depth | weight layers | params | MACs | step | "
               "measured | rule | rule (built depth) |", "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
        for r in self.rows:
            meas = "-" if r["measured_ratio"] is None else f"{r['measured_ratio']:.2f}"
            pred = "-" if r["predicted_ratio"] is None else f"{r['predicted_ratio']:.2f}"
            built = "-" if r["predicted_ratio_layers"] is None else f"{r['predicted_ratio_layers']:.2f}"
            out.append(f"| {r['model']} | {r['resolution']} | {r['width']:.1f} | {r['depth']:.1f} | "
                       f"{r['weight_layers']} | {r['params']:,} | {r['macs'] / 1e9:.2f}G | {r['step'] or '-'} | "
                       f"{meas} | {pred} | {built} |")
        out += ["", "measured: MACs ratio to the previous model; rule: (d1/d0) * (w1/w0)^2 * (r1/r0)^2 from the "
                    "nominal width/depth multipliers and the resolutions; rule (built depth): the same with the ratio "
                    "of weight layers on the longest path in place of the nominal depth multiplier."]
        steps = [r for r in self.rows if r["measured_ratio"] is not None]
        if steps:
            worst = max(steps, key=lambda r: abs(r["ratio_error"]))
            total = self.rows[-1]["macs"] / self.rows[0]["macs"]
            rule = math.prod(r["predicted_ratio"] for r in steps)
            out += ["", f"Over the family ({self.rows[0]['model']} -> {self.rows[-1]['model']}) MACs grow "
                        f"{total:.1f}x against {rule:.1f}x by the rule. Step by step the rule is off by up to "
                        f"{100 * abs(worst['ratio_error']):.0f}% ({worst['step']}): channels are rounded to "
                        "multiples of 8 and block counts rounded up, so the built depth and width move in "
                        "uneven steps. EfficientNet's coefficients (alpha=1.2, beta=1.1, gamma=1.15) give "
                        "alpha*beta^2*gamma^2 = 1.92, about 2 per unit of phi; the mean growth per step here is "
                        f"{total ** (1 / len(steps)):.2f}."]
        if plot:
            out += ["", f"![compound scaling]({plot})"]
        return "\n".join(out) + "\n"


def compound_scaling(family: Sequence[FamilyMember] | None = None, *, progress: Progress | None = None,
                     **analyze_kwargs: Any) -> CompoundStudy:
    """Analyze each member of a compound-scaled family (default: torchvision EfficientNet-B0..B7 at their
    resolutions) and compare each step's MACs growth with ``(d1/d0) * (w1/w0)**2 * (r1/r0)**2``."""
    from .api import analyze
    from .compare import weight_depth

    family = list(family) if family is not None else efficientnet_family()
    rows: list[dict[str, Any]] = []
    prev: dict[str, Any] | None = None
    for i, m in enumerate(family):
        rep = analyze(m.build(), input_size=m.resolution, **analyze_kwargs)
        row: dict[str, Any] = {"model": m.name, "resolution": m.resolution, "width": m.width, "depth": m.depth,
                               "weight_layers": weight_depth(rep), "params": rep.total_params,
                               "macs": rep.total_macs, "step": "", "measured_ratio": None, "predicted_ratio": None,
                               "ratio_error": None, "predicted_ratio_layers": None}
        if prev is not None:
            measured = rep.total_macs / prev["macs"]
            predicted = (m.depth / prev["depth"]) * (m.width / prev["width"]) ** 2 * (
                m.resolution / prev["resolution"]) ** 2
            # the same rule with the depth actually built (layers are rounded up: B1's 1.1 gives 23 blocks
            # where B0 has 16), which is what the MACs follow
            by_layers = (row["weight_layers"] / prev["weight_layers"]) * (m.width / prev["width"]) ** 2 * (
                m.resolution / prev["resolution"]) ** 2
            row.update(predicted_ratio_layers=by_layers, step=f"{prev['model'].rsplit('_', 1)[-1]}->{m.name.rsplit('_', 1)[-1]}",
                       measured_ratio=measured, predicted_ratio=predicted, ratio_error=measured / predicted - 1)
        rows.append(row)
        prev = row
        if progress is not None:
            progress(i + 1, len(family), m.name)
    return CompoundStudy(tuple(rows))


# ---------------------------------------------------------------------------------------------- sweeps
SWEEP_METRICS = ["params", "macs", "flops", "activation_bytes", "rf", "weight_layers", "status", "error_code",
                 "error"]


def configurations(space: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A search space as a list of configurations: a dict of lists gives their Cartesian product (in the
    dict's key order), a list of dicts is taken as is."""
    if isinstance(space, Mapping):
        keys = list(space)
        return [dict(zip(keys, values)) for values in itertools.product(*(list(space[k]) for k in keys))]
    return [dict(c) for c in space]


def _sweep_one(build: Callable[..., Any], config: dict[str, Any], input_size: Any,
               analyze_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Build and analyze one configuration; never raises (a failure is a row with its code and message).
    Runs in the worker process/thread, so it returns plain data only."""
    from .api import analyze
    from .compare import weight_depth
    from .errors import LayerscopeError
    from .render.table import final_rf, rf_value

    row: dict[str, Any] = {k: None for k in SWEEP_METRICS}
    try:
        model = build(**config)
    except SystemExit as exc:  # never end the worker (or the caller) from a build function
        row.update(status="failed", error_code="LS924", error=f"build({config}) called sys.exit({exc.code!r})")
        return row
    except Exception as exc:
        row.update(status="failed", error_code="LS924", error=f"build({config}) failed: {type(exc).__name__}: {exc}")
        return row
    try:
        rep = analyze(model, input_size=input_size, **analyze_kwargs)
    except LayerscopeError as exc:
        row.update(status="failed", error_code=exc.code, error=exc.message)
        return row
    except Exception as exc:
        row.update(status="failed", error_code="LS900", error=f"{type(exc).__name__}: {exc}")
        return row
    rf = rf_value(final_rf(rep))
    row.update(params=rep.total_params, macs=rep.total_macs, flops=rep.total_flops,
               activation_bytes=rep.activation_bytes, rf=None if rf is None else int(rf), weight_layers=weight_depth(rep),
               status=rep.status)
    if not rep.ok:
        first = rep.errors[0]
        row.update(status="failed", error_code=first.code, error=first.message)
    return row


def sweep(build: Callable[..., Any], space: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]], *,
          input_size: Any, executor: Any = None, max_workers: int = 2, progress: Progress | None = None,
          **analyze_kwargs: Any) -> Any:
    """Analyze every architecture of a search space; returns a DataFrame, one row per configuration.

    ``build(**config)`` returns an ``nn.Module`` for one configuration. ``space`` is a dict of parameter lists
    (their product is swept) or a list of configuration dicts. Columns: the configuration's keys, then
    ``params, macs, flops, activation_bytes, rf, weight_layers, status, error_code, error`` and ``pareto`` (True on the
    frontier: no other successful configuration has fewer-or-equal params and MACs and a larger-or-equal
    receptive field, better in one). A configuration that fails to build or trace is a row with ``status ==
    "failed"`` and its diagnostic code and message, never an exception.

    ``executor``: any ``concurrent.futures.Executor``: e.g. a ``ThreadPoolExecutor``, or for several machines
    a Dask client's ``client.get_executor()``. Default: a local ``ProcessPoolExecutor(max_workers)``; with a
    process pool ``build`` must be picklable, i.e. a module-level function (not a lambda or a closure; Dask
    pickles with cloudpickle and accepts those). ``executor=False`` runs serially in this process.

    >>> import torch, layerscope
    >>> def build(width, depth):
    ...     layers = [torch.nn.Conv2d(3, width, 3, padding=1)]
    ...     layers += [torch.nn.Conv2d(width, width, 3, padding=1) for _ in range(depth - 1)]
    ...     return torch.nn.Sequential(*layers)
    >>> df = layerscope.sweep(build, {"width": [8, 16], "depth": [1, 2]}, input_size=32, executor=False)
    >>> df[["width", "depth", "params"]].values.tolist()
    [[8, 1, 224], [8, 2, 808], [16, 1, 448], [16, 2, 2768]]
    """
    from concurrent.futures import ProcessPoolExecutor

    from .errors import require
    from .render.plots import pareto_mask

    pd = require("pandas", "layerscope.sweep")
    configs = configurations(space)
    clash = sorted({k for c in configs for k in c} & set(SWEEP_METRICS + ["pareto"]))
    if clash:
        from .errors import ConfigError

        raise ConfigError(f"configuration keys {clash} clash with sweep result columns",
                          hint="rename them in the search space (and in build's signature)", code="LS965")
    results: list[dict[str, Any]] = []
    own = None
    if executor is None:
        own = executor = ProcessPoolExecutor(max_workers=max_workers)
    try:
        if executor is False:
            for i, c in enumerate(configs):
                results.append(_sweep_one(build, c, input_size, analyze_kwargs))
                if progress is not None:
                    progress(i + 1, len(configs), str(c))
        else:
            futures = [executor.submit(_sweep_one, build, c, input_size, analyze_kwargs) for c in configs]
            for i, (c, fut) in enumerate(zip(configs, futures)):
                try:
                    results.append(fut.result())
                except Exception as exc:  # e.g. build not picklable, worker died: still a row
                    row = {k: None for k in SWEEP_METRICS}
                    if _is_pickling_error(exc):
                        row.update(status="failed", error_code="LS974",
                                   error=f"build cannot be sent to the worker processes: {type(exc).__name__}: {exc}; "
                                         "use a module-level function (not a lambda or a closure), or "
                                         "executor=False to run in this process")
                    else:
                        row.update(status="failed", error_code="LS900",
                                   error=f"the executor failed on this configuration: {type(exc).__name__}: {exc}")
                    results.append(row)
                if progress is not None:
                    progress(i + 1, len(configs), str(c))
    finally:
        if own is not None:
            own.shutdown()
    rows = [dict(c, **r) for c, r in zip(configs, results)]
    ok = [r["status"] != "failed" for r in rows]
    points = [(r["params"], r["macs"], r["rf"]) if good else (None, None, None) for r, good in zip(rows, ok)]
    front = pareto_mask(points, maximize=[False, False, True])
    for r, on, good in zip(rows, front, ok):
        r["pareto"] = bool(on) and good  # a failed configuration is never on the frontier
    keys = list(dict.fromkeys(k for c in configs for k in c))
    table = pd.DataFrame(rows, columns=keys + SWEEP_METRICS + ["pareto"])
    for col in ("params", "macs", "flops", "activation_bytes", "rf", "weight_layers"):
        table[col] = table[col].astype("Int64")  # counts stay integers when some rows failed (<NA>)
    return table


def _is_pickling_error(exc: BaseException) -> bool:
    """A process pool could not pickle ``build`` (a lambda, a closure, a class defined in a function)."""
    import pickle

    text = f"{type(exc).__name__} {exc}".lower()
    return isinstance(exc, pickle.PicklingError) or "pickle" in text or "local object" in text
