"""Rules for ops that transformer and mixture-of-experts code calls: losses, grouped GEMMs, histograms.

Registered like :mod:`.ops` (imported by ``rules/__init__``). Pure functions of shapes.
"""

from __future__ import annotations

import torch

from ._registry import Call, OpCost, rule


def _numel(x: object) -> int:
    return int(x.numel()) if isinstance(x, torch.Tensor) else 0


@rule("_grouped_mm", "grouped_mm")
def macs_grouped_mm(call: Call) -> OpCost:
    """``torch._grouped_mm(a, b, offs=)``: one GEMM per group; each row of ``a`` meets one group's matrix.

    Shapes (torch's grouped_mm docs): a (S, K) x b (G, K, N) with offsets -> (S, N): S*K*N MACs, every row once
    (HF's MoE path: S = tokens * top_k); a (G, M, K) x b (G, K, N) -> (G, M, N): G*M*K*N; a (M, K) x b (K, N)
    grouped along K -> (G, M, N): M*K*N (each K slice once). So out.numel() * K, except the K-grouped case.
    Rows past ``offs[-1]`` (expert-parallel sentinels) are skipped by the kernel; offsets are values, so they
    are counted as if every row were used: with no sentinels (a single device) this is exact.
    """
    a, b = call.args[0], call.args[1]
    out = call.out
    if a.dim() == 2 and b.dim() == 2:
        macs = int(a.shape[0]) * int(a.shape[1]) * int(b.shape[1])
    else:
        macs = _numel(out) * int(a.shape[-1])
    return OpCost(macs, 2 * macs, spatial="global", attrs={"groups": int(b.shape[0]) if b.dim() == 3 else None})


@rule("cross_entropy")
def flops_cross_entropy(call: Call) -> OpCost:
    """``F.cross_entropy(logits, target)`` = log_softmax over classes (3 per element, as softmax) + a gather
    and the reduction (1 per target element, +1 per element with label smoothing)."""
    x, target = call.args[0], call.arg(1, "target")
    smoothing = float(call.arg(7, "label_smoothing", 0.0) or 0.0)
    flops = 3 * _numel(x) + _numel(target) + (_numel(x) if smoothing else 0)
    return OpCost(0, flops, spatial="global")


@rule("nll_loss", "nll_loss2d", "nll_loss_nd")
def flops_nll_loss(call: Call) -> OpCost:
    # a gather per target element plus the reduction
    return OpCost(0, 2 * _numel(call.arg(1, "target")), spatial="global")


@rule("histc", "histogram")
def flops_histc(call: Call) -> OpCost:
    # one bin lookup per input element; the output's length is the bin count (an argument), not data
    return OpCost(0, _numel(call.args[0]), spatial="global")


@rule("greater", "greater_equal", "less", "less_equal", "not_equal")
def flops_comparison_alias(call: Call) -> OpCost:
    # torch.greater is torch.gt under another name (HF's eager MoE uses it): 1 per output element
    return OpCost(0, _numel(call.out), spatial="pointwise")
