"""Rules for ops whose output size depends on the data, and for the sampling/index ops detectors use.

The *sizes* of data-dependent ops (``nonzero``, ``torch.where(cond)``, boolean masks, ``unique``, NMS) are
their upper bound (the handlers at the end of this file, applied by ``tracing/upper_bound.py``); the cost rules
here only count the work of the call that was traced, as pure functions of its shapes.

- ``nms`` (``torchvision::nms``): N boxes, every pair's IoU compared once: N(N-1)/2 pairs, 13 FLOPs each
  (intersection: 4 min/max, 2 sub, 2 clamp, 1 mul; union: 2 add/sub; 1 div; 1 compare). No MACs.
- ``roi_align`` / ``ps_roi_align``: per output element ``sampling_ratio**2`` bilinear samples (4 neighbours,
  a multiply-add each: 8 FLOPs) averaged (+1); with ``sampling_ratio <= 0`` (adaptive) the number of samples
  depends on the box sizes, i.e. on the data: counted at 2x2 per bin, the value of the usual 2 ratio.
- ``roi_pool`` / ``ps_roi_pool``: a max over each bin: bins of unknown (data-dependent) size; 1 FLOP per
  output element is counted.
- ``grid_sample``: per output element 2**n (bilinear) / 4**n (bicubic) neighbours, a multiply-add each;
  nearest is a copy. Its receptive field is *unknown* (spatial ``"sampled"``): the positions read are the grid's
  values (likewise the boxes of ``roi_align``, the offsets of ``deform_conv2d``).
- ``meshgrid``, ``affine_grid`` and index bookkeeping (``argwhere``, ``unique_consecutive``, ``bincount``):
  index arithmetic, no model arithmetic (``affine_grid`` is a tiny matmul: counted as MACs).

Upper-bound sizes (the end of this file): for every op with the table fact ``upper_bound``, one
``@upper_bound_rule`` handler gives the output it would have if it kept *every* element, and the assumption
made; ``tracing/upper_bound.py`` calls :func:`upper_bound_size` and records the assumption (LS130).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from ._registry import Call, OpCost, rule
from .table import has_fact


def _numel(t: Any) -> int:
    return t.numel() if isinstance(t, torch.Tensor) else 0


@rule("nms")
def flops_nms(call: Call) -> OpCost:
    boxes = call.arg(0, "boxes")
    n = int(boxes.shape[0]) if isinstance(boxes, torch.Tensor) and boxes.dim() else 0
    # every pair of boxes once: N(N-1)/2 IoUs at 13 FLOPs each
    return OpCost(0, 13 * (n * (n - 1) // 2), spatial="unknown", attrs={"boxes": n})


@rule("roi_align", "ps_roi_align")
def flops_roi_align(call: Call) -> OpCost:
    ratio = call.arg(5 if call.name == "roi_align" else 4, "sampling_ratio", -1)
    try:
        ratio = int(ratio)
    except (TypeError, ValueError):
        ratio = -1
    samples = (ratio if ratio > 0 else 2) ** 2
    # per output element: `samples` bilinear samples of 4 neighbours (8 FLOPs each) and their average (1)
    return OpCost(0, _numel(call.out) * (8 * samples + 1), spatial="sampled",
                  attrs={"sampling_ratio": ratio, "adaptive": ratio <= 0, "sampled_by": "boxes"})


@rule("roi_pool", "ps_roi_pool")
def flops_roi_pool(call: Call) -> OpCost:
    return OpCost(0, _numel(call.out), spatial="sampled", attrs={"sampled_by": "boxes"})


@rule("grid_sample", "grid_sampler")
def flops_grid_sample(call: Call) -> OpCost:
    x = call.arg(0, "input")
    mode = call.arg(2, "mode", "bilinear")
    if call.name == "grid_sampler":  # aten: (input, grid, interpolation_mode:int, padding_mode:int, align)
        mode = {0: "bilinear", 1: "nearest", 2: "bicubic"}.get(mode, "bilinear") if isinstance(mode, int) else mode
    n = x.dim() - 2 if isinstance(x, torch.Tensor) else 2
    per = {"bilinear": 2 * 2 ** n, "bicubic": 2 * 4 ** n}.get(str(mode), 0)  # a multiply-add per neighbour
    # the positions read are the grid's values: the receptive field cannot be followed ("unknown")
    return OpCost(0, _numel(call.out) * per, spatial="sampled", attrs={"mode": str(mode), "sampled_by": "grid"})


@rule("affine_grid")
def macs_affine_grid(call: Call) -> OpCost:
    theta = call.arg(0, "theta")
    out = call.out
    # every output point is theta (n x n+1) @ (x, y[, z], 1): n+1 MACs per coordinate
    k = int(theta.shape[-1]) if isinstance(theta, torch.Tensor) else 3
    macs = _numel(out) * k
    return OpCost(macs, 2 * macs, spatial="unknown")


@rule("meshgrid", "cartesian_prod", "argwhere", "unique_consecutive", "bincount")
def flops_index_only(call: Call) -> OpCost:
    # index bookkeeping: no arithmetic of the model (bincount: one increment per element, counted)
    if call.name == "bincount":
        return OpCost(0, _numel(call.arg(0, "input")), spatial="unknown")
    return OpCost(0, 0, spatial="unknown" if call.name != "meshgrid" else "pointwise")


def _deform_macs(call: Call) -> OpCost:
    # torchvision::deform_conv2d(input, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w,
    #   dil_h, dil_w, groups, offset_groups, use_mask): a conv at sampled positions + one bilinear sample per tap
    x, w = call.arg(0, "input"), call.arg(1, "weight")
    out = call.out
    taps = math.prod(int(k) for k in w.shape[2:])
    macs = _numel(out) * int(w.shape[1]) * taps
    samples = int(out.shape[0]) * int(x.shape[1]) * taps * math.prod(int(s) for s in out.shape[2:])
    return OpCost(macs, 2 * macs + 8 * samples, spatial="sampled", attrs={"sampled_by": "offsets"})


rule("deform_conv2d")(_deform_macs)


@rule("quantize_per_tensor", "quantize_per_channel", "quantize_per_tensor_dynamic", "dequantize")
def flops_quantize(call: Call) -> OpCost:
    # a cast with a scale and zero point: 2 FLOPs per element (scale, shift); traced as float on meta
    return OpCost(0, 2 * sum(_numel(t) for t in call.outputs), spatial="pointwise")



# ------------------------------------------------------------------------------------------ upper-bound sizes
# A meta tensor has no values, so these ops cannot know how many elements they keep: each keeps every element
# (the worst case). A handler returns (output, assumption) or None when this call is not data-dependent
# (``torch.where(c, x, y)``, an index that is not a boolean mask).
UpperBound = Callable[[str, tuple, dict], "tuple[Any, dict] | None"]
_UPPER_BOUND: dict[str, UpperBound] = {}


def upper_bound_rule(*names: str) -> Callable[[UpperBound], UpperBound]:
    """Register the upper-bound handler of ops that carry the table fact ``upper_bound`` (once each)."""

    def register(fn: UpperBound) -> UpperBound:
        for name in names:
            if not has_fact(name, "upper_bound"):
                raise ValueError(f"op {name!r} has no 'upper_bound' fact in the op table")
            if name in _UPPER_BOUND:
                raise ValueError(f"duplicate upper-bound handler for op {name!r}")
            _UPPER_BOUND[name] = fn
        return fn

    return register


def upper_bound_size(name: str, args: tuple, kwargs: dict) -> tuple[Any, dict] | None:
    """(output, assumption) for a data-dependent op at its upper bound, or None if this call is not one."""
    fn = _UPPER_BOUND.get(name)
    return fn(name, args, kwargs) if fn is not None else None


def meta(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device="meta")


def _ub_arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[i] if len(args) > i else default


def _index_tuple(mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``mask.nonzero(as_tuple=True)`` at its upper bound: every element is True."""
    n = mask.numel()
    return tuple(meta((n,), torch.int64) for _ in range(max(mask.dim(), 1)))


def _why(n: int, what: str) -> str:
    return f"all {n} {what} (a meta trace has no values, so nothing is assumed filtered out)"


@upper_bound_rule("nonzero", "argwhere")
def upper_bound_nonzero(name: str, args: tuple, kwargs: dict) -> tuple[Any, dict] | None:
    x = args[0]
    if name == "nonzero" and _ub_arg(args, kwargs, 1, "as_tuple", False):
        out: Any = _index_tuple(x)
    else:
        out = meta((x.numel(), x.dim()), torch.int64)
    return out, {"bound": x.numel(), "why": _why(x.numel(), "elements of the mask taken as nonzero")}


@upper_bound_rule("where")
def upper_bound_where(name: str, args: tuple, kwargs: dict) -> tuple[Any, dict] | None:
    if len(args) + len(kwargs) != 1:  # where(c, x, y) is elementwise: nothing data-dependent
        return None
    x = _ub_arg(args, kwargs, 0, "condition")
    return _index_tuple(x), {"bound": x.numel(), "why": _why(x.numel(), "elements of the condition taken as True")}


@upper_bound_rule("masked_select")
def upper_bound_masked_select(name: str, args: tuple, kwargs: dict) -> tuple[Any, dict] | None:
    x, mask = _ub_arg(args, kwargs, 0, "input"), _ub_arg(args, kwargs, 1, "mask")
    n = torch.broadcast_shapes(x.shape, mask.shape).numel()
    return meta((n,), x.dtype), {"bound": n, "why": _why(n, "elements of the mask taken as True")}


@upper_bound_rule("getitem", "setitem")
def upper_bound_mask_index(name: str, args: tuple, kwargs: dict) -> tuple[Any, dict] | None:
    if len(args) < 2 or not isinstance(args[0], torch.Tensor):
        return None
    index = args[1]
    items = index if isinstance(index, tuple) else (index,)
    masks = [it for it in items if isinstance(it, torch.Tensor) and it.dtype == torch.bool]
    if not masks:
        return None
    fixed: list[Any] = []
    for it in items:
        if isinstance(it, torch.Tensor) and it.dtype == torch.bool:
            fixed.extend(_index_tuple(it) if it.dim() else [it])
        elif isinstance(it, torch.Tensor) and it.device.type != "meta":
            fixed.append(torch.empty_like(it, device="meta"))
        else:
            fixed.append(it)
    x = args[0]
    if name == "setitem":
        value = args[2] if len(args) > 2 else None
        if isinstance(value, torch.Tensor) and value.dim():
            value = meta((), value.dtype)  # broadcast over the selection at any size
        x.__setitem__(tuple(fixed), value)
        out = x
    else:
        out = x.__getitem__(tuple(fixed))
    n = sum(m.numel() for m in masks)
    return out, {"bound": n, "why": _why(n, "elements of the boolean mask taken as True")}


@upper_bound_rule("unique", "unique_consecutive")
def upper_bound_unique(name: str, args: tuple, kwargs: dict) -> tuple[Any, dict] | None:
    x = args[0]
    if name == "unique":  # torch.unique(input, sorted, return_inverse, return_counts, dim)
        inverse = _ub_arg(args, kwargs, 2, "return_inverse", False)
        counts = _ub_arg(args, kwargs, 3, "return_counts", False)
        dim = _ub_arg(args, kwargs, 4, "dim", None)
    else:  # torch.unique_consecutive(input, return_inverse, return_counts, dim)
        inverse = _ub_arg(args, kwargs, 1, "return_inverse", False)
        counts = _ub_arg(args, kwargs, 2, "return_counts", False)
        dim = _ub_arg(args, kwargs, 3, "dim", None)
    if dim is None:
        n = x.numel()
        outs = [meta((n,), x.dtype)]
        inv_shape: tuple[int, ...] = tuple(x.shape)
    else:
        d = int(dim) % x.dim()
        n = int(x.shape[d])
        outs = [meta(tuple(x.shape), x.dtype)]
        inv_shape = (n,)
    if inverse:
        outs.append(meta(inv_shape, torch.int64))
    if counts:
        outs.append(meta((n,), torch.int64))
    out = outs[0] if len(outs) == 1 else tuple(outs)
    return out, {"bound": n, "why": _why(n, "values taken as distinct")}


@upper_bound_rule("nms")
def upper_bound_nms(name: str, args: tuple, kwargs: dict) -> tuple[Any, dict] | None:
    boxes = _ub_arg(args, kwargs, 0, "boxes")
    n = int(boxes.shape[0])
    return meta((n,), torch.int64), {"bound": n, "why": _why(n, "boxes kept by non-maximum suppression")}
