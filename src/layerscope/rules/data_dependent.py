"""Rules for ops whose output size depends on the data, and for the sampling/index ops detectors use.

The *sizes* of data-dependent ops (``nonzero``, ``torch.where(cond)``, boolean masks, ``unique``, NMS) are
decided by the tracer at their upper bound (``tracing/upper_bound.py``); the rules here only count the work
of the call that was traced, as pure functions of its shapes.

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
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ._registry import Call, OpCost, rule


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

