"""Causal masks recognized from how they are built, never from their values (issue 13).

On meta tensors a mask has no values, so a causal model traced with a padding ``attention_mask`` hands SDPA an
explicit mask tensor and ``is_causal=False``: its causal structure is only visible in the ops that built it.
Hugging Face's ``masking_utils`` compares position indices, ``kv_idx <= q_idx`` with ``arange``s broadcast along
the key (last) and query (second to last) dims, then ANDs the padding in and (eager attention) turns it into an
additive mask with ``where``; ``nn.Transformer.generate_square_subsequent_mask`` is ``triu(full(-inf), 1)``. This
tracker follows tensors through the trace by identity and tags:

- ``pos``: a position index, an ``arange`` (plus or minus a scalar) with one non-1 dim after indexing/reshaping;
- ``causal``: a mask whose last two dims are (query, key) with key <= query allowed: the comparison above, or a
  ``tril`` (diagonal <= 0) / ``triu`` (diagonal >= 1, the blocked upper part), and whatever keeps that structure
  (an AND with a padding mask, ``where`` into an additive mask, a reshape/expand/slice, the scores it was added to,
  their softmax and dropout). A union (OR) or an inversion drops the tag: the result is not known to be causal.

An op that reads a ``causal`` tensor gets ``causal_mask=True`` in its record's attrs: SDPA with such an
``attn_mask`` (analysis.attention counts it as causal), a softmax of masked scores and the ``A @ V`` matmul (the
receptive field then is global over the prefix). Ops are told apart by the op table's families and facts
(``position_index``, ``orders_le``/``orders_ge``, ``lower_triangle``/``upper_triangle``, ``mask_union``).
"""

from __future__ import annotations

from typing import Any

import torch

from ..rules.table import has_fact, in_family

# ops that keep a mask's (query, key) structure (an AND, a where, the scores a mask is added to)
_KEEPS = ("elementwise_binary", "alias", "reshape", "view", "expand", "slice", "dropout", "softmax", "copy")


def _pos_dim(t: torch.Tensor) -> int | None:
    """The one dim (from the end) a position index varies along; None if it varies along none or several."""
    big = [d - t.dim() for d in range(t.dim()) if t.shape[d] != 1]
    return big[0] if len(big) == 1 else None


class MaskTracker:
    """Tags of tensors seen during one trace (by ``id``; the tensors are kept alive so ids stay unique)."""

    def __init__(self) -> None:
        self.tags: dict[int, str] = {}
        self.keep: list[torch.Tensor] = []

    def _tag(self, t: torch.Tensor, tag: str) -> None:
        self.tags[id(t)] = tag
        self.keep.append(t)

    def observe(self, name: str, args: Any, kwargs: Any, tensors: list[torch.Tensor],
                outs: list[torch.Tensor]) -> bool:
        """Tag ``outs`` of op ``name``; True when one of its inputs is a causal mask (or scores under one)."""
        tags = [self.tags.get(id(t)) for t in tensors]
        reads_causal = "causal" in tags
        if len(outs) != 1:
            return reads_causal
        out = outs[0]
        le, ge = has_fact(name, "orders_le"), has_fact(name, "orders_ge")
        lower, upper = has_fact(name, "lower_triangle"), has_fact(name, "upper_triangle")
        if has_fact(name, "position_index") and out.dim() == 1:
            self._tag(out, "pos")
        elif (le or ge) and len(tensors) == 2 and tags == ["pos", "pos"]:
            a, b = (_pos_dim(t) for t in tensors)
            key, query = (a, b) if le else (b, a)
            if key == -1 and query == -2:
                self._tag(out, "causal")
        elif (lower or upper) and tensors and tensors[0].dim() >= 2:
            diagonal = args[1] if len(args) > 1 else (kwargs or {}).get("diagonal", 0)
            if isinstance(diagonal, int) and (diagonal <= 0 if lower else diagonal >= 1):
                self._tag(out, "causal")
        elif "pos" in tags and len(tensors) == 1 and out.dim() >= 1 and _pos_dim(out) is not None \
                and (in_family(name, "reshape", "view", "expand", "slice", "alias") or has_fact(name, "additive")):
            self._tag(out, "pos")  # arange + offset, arange[None, :], arange.view(1, -1)
        elif reads_causal and in_family(name, *_KEEPS) and not has_fact(name, "mask_union") and out.dim() >= 2:
            src = tensors[tags.index("causal")]
            if tuple(out.shape[-2:]) == tuple(src.shape[-2:]) or src.dim() < 2:
                self._tag(out, "causal")
        return reads_causal
