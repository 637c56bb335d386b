"""What a receptive field means for sequence models: tokens are not pixels, audio frames are frames (issue 13).

Pure functions over a Report for the renderers' summary line:

- token ids (an integer ``(N, T)`` input) have no spatial axis; when attention runs over the tokens, every
  output token depends on every input token (a causal model: on every earlier one), which is what the line
  says instead of "- px";
- a 1-D float input ``(N, C, L)`` (audio features, signals) is measured in frames/samples, not px.
"""

from __future__ import annotations

from typing import Any

from ..rules.table import in_family


def token_input(report: Any) -> Any:
    """The first model input when it is integer token ids ``(N, T)``, else None."""
    for t in report.inputs:
        if len(t.shape) == 2 and ("int" in t.dtype):
            return t
        break
    return None


def first_attention(report: Any) -> tuple[str | None, bool]:
    """``(name of the first attention node, whether every attention call is causal)``."""
    first, causal, seen = None, True, False
    for n in report.nodes:
        for op in n.ops:
            if in_family(op.op, "attention"):
                seen = True
                first = first or n.name
                causal = causal and bool(op.attrs.get("is_causal"))
    return first, (causal and seen)


def sequence_field_text(report: Any) -> str:
    """The summary phrase for a token model ("" for other models)."""
    ids = token_input(report)
    if ids is None:
        return ""
    where, causal = first_attention(report)
    shape = "x".join(map(str, ids.shape))
    if where is None:
        return (f"token ids ({shape}) have no spatial axis: a receptive field in px does not apply; no attention "
                "was traced, so each output position sees the tokens its own layers mix")
    reach = "every earlier input token (causal attention)" if causal else "every input token"
    return (f"global over the sequence: token ids ({shape}) have no spatial axis (tokens are not px); from "
            f"`{where}` on, every output token depends on {reach}")


def frames_unit(report: Any, text: str) -> str:
    """``text`` with px read as frames for a 1-D float input (N, C, L): audio features, signals."""
    if not report.inputs:
        return text
    t = report.inputs[0]
    if len(t.shape) == 3 and "int" not in t.dtype:
        return text.replace(" px", " frames")
    return text
