"""Causal attention: counted in full (as FlopCounterMode, DeepSpeed and the analytic formulas do), with the
figure a kernel that skips the masked scores would do beside it. No torch here.

A causal SDPA call (``is_causal=True``, top-left aligned as ``torch.nn.functional.scaled_dot_product_attention``
defines it) lets query ``i`` see keys ``0..i``: ``sum_i min(i + 1, S)`` of the ``L * S`` score pairs, about half
for ``L == S``. A call with an explicit mask tensor is causal when the tracer recognized the mask from how it was
built (``attrs["causal_mask"]``: position comparisons ``kv_idx <= q_idx``, ``tril``/``triu``, ANDed with padding;
:mod:`layerscope.tracing.masks`), so a causal model traced with a padding ``attention_mask`` is still causal.
A mask whose construction is not one of those patterns (or was passed in as a tensor) is not classified.
"""

from __future__ import annotations

from typing import Any

from ..report import CausalAttention
from ..rules.table import has_fact


def _causal_pairs(L: int, S: int) -> int:
    # query i (0-based) sees keys 0..i, capped at S: sum_{i<L} min(i+1, S)
    k = min(L, S)
    return k * (k + 1) // 2 + (L - k) * S


def causal_attention(nodes: Any) -> CausalAttention | None:
    """The causal SDPA calls among ``nodes`` (a report's nodes), or None when there are none."""
    calls = full = causal = 0
    for n in nodes:
        for op in n.ops:
            masked = op.attrs.get("is_causal") or op.attrs.get("causal_mask")
            if not has_fact(op.op, "causal_flag") or not masked or len(op.inputs) < 2:
                continue
            L, S = op.inputs[0][-2], op.inputs[1][-2]
            if not L or not S:
                continue
            calls += 1
            full += op.macs
            causal += op.macs * _causal_pairs(L, S) // (L * S)
    if not calls:
        return None
    return CausalAttention(calls, full, causal)
