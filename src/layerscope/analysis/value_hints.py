"""What to do when a forward reads tensor values (LS108): a hint that names the workaround for known cases.

Pure string logic over the failure's op and source line (no torch, no transformers import). The generic hint
("make control flow depend on shapes") blames the user's code; when the read is in a library's code or in
data-dependent routing, the user can only change *what* they trace, so the hint says how.
"""

from __future__ import annotations

import re
from typing import Any

from ..rules.table import has_fact

GENERIC = ("make control flow depend on shapes or configuration rather than values (e.g. x.shape[1] instead of "
           "x.sum().item()); or analyze the branch you want by passing inputs=/kwargs= that select it")


def _path(source: str | None) -> str:
    return (source or "").replace("\\", "/")


def value_read_hint(failure: Any) -> str:
    """The LS108 hint for ``failure`` (a tracer Failure: ``op``, ``source``, ``module_type``)."""
    op = failure.op
    src = _path(getattr(failure, "source", None))
    in_hf = "/transformers/" in src
    if "/transformers/generation/" in src or re.search(r"\bgenerate\b", getattr(failure, "module", "") or ""):
        return ("generate() decides when to stop from the sampled token values, which a meta trace does not "
                "have; analyze one forward instead: the prefill is model(input_ids=<1xT ids>), one decode step "
                "is model(input_ids=<1x1 ids>, past_key_values=<a cache of T tokens>) (a transformers "
                "DynamicCache filled with meta tensors works)")
    if has_fact(op, "routes_tokens") or "/integrations/moe" in src or "experts" in src:
        extra = ""
        if in_hf:
            extra = ("; for a Hugging Face mixture-of-experts model set config._experts_implementation = "
                     "\"batched_mm\" before building it (it computes exactly the T*k routed token-expert pairs "
                     "without reading indices)")
        return ("the number of rows this op returns depends on values (e.g. which tokens a router sends to "
                "each expert), so a shape-only trace cannot follow it; use a fixed-shape dispatch (dense masked "
                "experts, a capacity-based one_hot/einsum dispatch, or sort + gather + bmm over the T*k pairs)"
                + extra)
    if in_hf and ("mask" in src or "attention" in src):
        return ("Hugging Face's mask code read the mask's values here; drop attention_mask (an all-ones mask "
                "costs the same), pass a 4-D float mask (batch, 1, query, key), or build the model with "
                "attn_implementation=\"eager\"")
    if in_hf:
        return ("this value check is inside transformers (" + src.rsplit("/transformers/", 1)[-1] + "); pass "
                "the inputs that skip it (use_cache=True, no position_ids, an attention_mask=None), or "
                + GENERIC.split("; or ", 1)[1])
    return GENERIC
