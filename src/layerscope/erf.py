"""The effective receptive field (Luo, Li, Urtasun & Zemel, "Understanding the Effective Receptive Field in
Deep Convolutional Neural Networks", NIPS 2016): how the gradient of one output unit is spread over its
theoretical receptive field.

This is the one analysis of layerscope that runs real tensors: a deep copy of the model (never the model
itself) does a CPU forward and backward pass per batch of random inputs. The gradient of the centre output
unit (summed over its channels) with respect to the input, in absolute value, is averaged over the samples:
the heatmap. Its mass is usually concentrated in a Gaussian-like blob much smaller than the theoretical
field; ``radius`` says how far from the blob's centre of mass one must go to hold ``mass`` (95%) of it.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ConfigError, InputSpecError

__all__ = ["EffectiveReceptiveField", "effective_receptive_field"]


@dataclass(frozen=True)
class EffectiveReceptiveField:
    """The measured gradient heatmap of one output unit (a numpy array over the input's spatial axes)."""

    heatmap: Any  # numpy array, shape = the input's spatial size, sums to 1
    unit: tuple[int, ...]  # the output unit's index along each spatial axis
    centroid: tuple[float, ...]  # centre of mass of the heatmap, in input pixels
    radius: float  # distance from the centroid holding ``mass`` of the gradient
    mass: float
    samples: int
    input_size: tuple[int, ...]
    theoretical: Any = field(default=None, repr=False)  # the analytic ReceptiveField, when it could be traced

    @property
    def theoretical_region(self) -> tuple[tuple[float, float], ...] | None:
        """The theoretical field's box of the same unit, ``((first, end), ...)``."""
        if self.theoretical is None:
            return None
        try:
            return self.theoretical.local_region(*self.unit)
        except ValueError:
            return None

    def radius_for(self, mass: float) -> float:
        """The radius around the centroid that holds ``mass`` (0..1] of the gradient."""
        return _radius(self.heatmap, self.centroid, mass)

    def plot(self, ax: Any = None, *, show_theoretical: bool = True) -> Any:
        """Heatmap (2-d) or profile (1-d) of the gradient, with the ``mass`` radius and the theoretical box."""
        from .errors import require

        plt = require("matplotlib.pyplot", "EffectiveReceptiveField.plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 4.5))
        region = self.theoretical_region if show_theoretical else None
        pct = f"{self.mass:.0%}"
        if self.heatmap.ndim == 1:
            ax.plot(range(len(self.heatmap)), self.heatmap, color="tab:blue")
            c = self.centroid[0]
            ax.axvspan(c - self.radius, c + self.radius, color="tab:orange", alpha=0.2,
                       label=f"{pct} of the gradient (r = {self.radius:.1f} px)")
            if region is not None:
                ax.axvline(region[0][0], color="k", ls="--", lw=1, label="theoretical field")
                ax.axvline(region[0][1], color="k", ls="--", lw=1)
            ax.set_xlabel("input position (px)")
            ax.set_ylabel("share of |gradient|")
        else:
            img = self.heatmap if self.heatmap.ndim == 2 else self.heatmap.sum(axis=tuple(range(self.heatmap.ndim - 2)))
            im = ax.imshow(img, cmap="magma", origin="upper", interpolation="nearest")
            ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of |gradient|")
            cy, cx = self.centroid[-2], self.centroid[-1]
            from matplotlib.patches import Circle, Rectangle

            ax.add_patch(Circle((cx, cy), self.radius, fill=False, color="cyan", lw=1.5,
                                label=f"{pct} of the gradient (r = {self.radius:.1f} px)"))
            if region is not None:
                (y0, y1), (x0, x1) = region[-2], region[-1]
                ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, color="white", ls="--",
                                       lw=1, label="theoretical field"))
            ax.set_xlim(-0.5, img.shape[1] - 0.5)
            ax.set_ylim(img.shape[0] - 0.5, -0.5)
            ax.set_xlabel("x (px)")
            ax.set_ylabel("y (px)")
        ax.set_title(f"effective receptive field of unit {self.unit} ({self.samples} samples)")
        ax.legend(loc="upper right", fontsize="small")
        return ax


def _radius(heat: Any, centroid: tuple[float, ...], mass: float) -> float:
    import numpy as np

    if not 0 < mass <= 1:
        raise ConfigError(f"mass must be in (0, 1], got {mass}", hint="e.g. mass=0.95", code="LS967")
    grids = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in heat.shape], indexing="ij")
    dist = np.sqrt(sum((g - c) ** 2 for g, c in zip(grids, centroid))).ravel()
    order = np.argsort(dist, kind="stable")
    cum = np.cumsum(heat.ravel()[order])
    total = cum[-1] if len(cum) else 0.0
    if total <= 0:
        return 0.0
    k = int(np.searchsorted(cum, mass * total - 1e-12 * total))
    return float(dist[order[min(k, len(order) - 1)]])


def _materialize(model: Any) -> tuple[Any, bool]:
    """A CPU float copy of ``model``; a model built on meta gets freshly initialized weights."""
    import torch

    on_meta = any(p.device.type == "meta" for p in model.parameters()) or any(
        b.device.type == "meta" for b in model.buffers())
    if on_meta:
        work = copy.deepcopy(model).to_empty(device="cpu")
        torch.manual_seed(0)
        for m in work.modules():
            reset = getattr(m, "reset_parameters", None)
            if callable(reset):
                reset()
            if hasattr(m, "reset_running_stats"):
                m.reset_running_stats()
    else:
        work = copy.deepcopy(model).to("cpu")
    return work.float(), on_meta


def effective_receptive_field(
    model: Any,
    input_size: Any = 224,
    *,
    samples: int = 16,
    batch_size: int = 4,
    unit: tuple[int, ...] | None = None,
    output: int = 0,
    mass: float = 0.95,
    inputs: Literal["normal", "ones"] = "normal",
    mode: Literal["eval", "train"] = "eval",
    seed: int = 0,
    max_bytes: int = 2 << 30,
    full_shape: bool = False,
) -> EffectiveReceptiveField:
    """Measure the effective receptive field of the centre output unit (or ``unit``) by backpropagation.

    ``input_size`` (and ``full_shape``) as in :func:`layerscope.analyze` (one input, batch dim ignored).
    ``samples`` random inputs (standard normal, or all ones) are run in batches of ``batch_size`` on CPU
    through a deep copy of the model with its current weights (a model built on meta gets a fresh random init). The model itself is
    not touched. Before running, the activation memory of one batch is estimated with a meta trace and the
    call refuses to go above ``max_bytes`` (LS968).

    >>> import torch, layerscope
    >>> net = torch.nn.Sequential(*[torch.nn.Conv2d(1, 1, 3, padding=1) for _ in range(4)])
    >>> erf = layerscope.effective_receptive_field(net, input_size=(1, 1, 33, 33), samples=4)
    >>> erf.heatmap.shape, erf.unit
    ((33, 33), (16, 16))
    """
    import numpy as np
    import torch

    from .api import analyze
    from .tracing.inputs import _shape

    if samples < 1 or batch_size < 1:
        raise ConfigError("samples and batch_size must be >= 1", hint="e.g. samples=16, batch_size=4",
                          code="LS967")
    shape = _shape(input_size, None, full_shape)
    if len(shape) < 3:
        raise InputSpecError(f"input shape {shape} has no spatial axis", hint="use (N, C, L), (N, C, H, W) or "
                             "(N, C, D, H, W)", code="LS957")
    n_spatial = len(shape) - 2
    batch = min(batch_size, samples)
    # bounded memory: a meta trace tells the activation bytes of one sample before anything is allocated
    report = analyze(model, (1, *shape[1:]), mode=mode, full_shape=True)
    need = (report.activation_bytes + report.input_bytes) * batch * 3  # forward + saved tensors + grads
    if need > max_bytes:
        raise ConfigError(
            f"measuring the effective receptive field needs about {need / 2**30:.1f} GiB for a batch of {batch} "
            f"at {shape[1:]} (limit {max_bytes / 2**30:.1f} GiB)",
            hint="use a smaller input_size or batch_size, or raise max_bytes", code="LS968")
    theoretical = report.receptive_field  # None when the trace did not reach the output: the heatmap needs none

    work, _ = _materialize(model)
    work.train(mode == "train")
    gen = torch.Generator().manual_seed(seed)
    heat = torch.zeros(shape[2:], dtype=torch.float64)
    done = 0
    chosen: tuple[int, ...] | None = unit
    with torch.inference_mode(False), torch.enable_grad():
        while done < samples:
            b = min(batch, samples - done)
            if inputs == "ones":
                x = torch.ones((b, *shape[1:]))
            else:
                x = torch.randn((b, *shape[1:]), generator=gen)
            x.requires_grad_(True)
            y = work(x)
            if isinstance(y, (tuple, list)):
                y = y[output]
            elif isinstance(y, dict):
                y = list(y.values())[output]
            if y.dim() < 2 + n_spatial:
                raise InputSpecError(
                    f"the output {tuple(y.shape)} has no spatial axes to pick a unit from",
                    hint="measure a convolutional trunk (e.g. drop the pooling and classifier head)", code="LS958")
            spatial = tuple(y.shape[-n_spatial:])
            if chosen is None:
                chosen = tuple(s // 2 for s in spatial)
            if len(chosen) != n_spatial or any(not 0 <= i < s for i, s in zip(chosen, spatial)):
                raise InputSpecError(f"unit {chosen} is outside the output's spatial size {spatial}",
                                     hint="give one index per spatial axis", code="LS959")
            # d(sum over batch and channels of the unit)/dx: Luo et al.'s gradient signal 1 at the centre
            y[(slice(None), slice(None)) + tuple(chosen)].sum().backward()
            g = x.grad.detach().abs().sum(dim=(0, 1)).to(torch.float64)
            heat += g
            done += b
            del x, y, g
    arr = heat.numpy()
    total = float(arr.sum())
    if total > 0:
        arr = arr / total
    grids = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in arr.shape], indexing="ij")
    centroid = tuple(float((g * arr).sum()) if total > 0 else (n - 1) / 2 for g, n in zip(grids, arr.shape))
    radius = _radius(arr, centroid, mass)
    assert chosen is not None
    if math.isnan(radius):
        radius = 0.0
    return EffectiveReceptiveField(arr, chosen, centroid, radius, mass, done, tuple(shape[2:]), theoretical)
