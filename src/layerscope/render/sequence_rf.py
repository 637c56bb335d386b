"""What a receptive field means for sequence models: tokens are not pixels, audio frames are frames (issue 13).

Pure functions over a Report for the renderers' summary line:

- token ids (an integer ``(N, T)`` input) have no spatial axis; when attention runs over the tokens, every
  output token depends on every input token (a causal model: on every earlier one), which is what the line
  says instead of "- px";
- a 1-D float input ``(N, C, L)`` (audio features, signals) is measured in frames/samples, not px.

The units, the causal flag and the reason for an unknown field come from the receptive-field record itself
(:class:`layerscope.fields.ReceptiveField`), so text, markdown, HTML and JSON say the same.
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
    """The summary phrase for a sequence model ("" for other models): what a position is (tokens, frames), whether
    attention made the output global (causal: over the prefix) and, when the field is unknown, why."""
    rf = report.receptive_field
    ids = token_input(report)
    if rf is not None and rf.size and rf.units == "px":
        return ""  # an image beside token ids (CLIP): the field is the image's
    if rf is None or not rf.size:
        if ids is None:
            return ""
        shape = "x".join(map(str, ids.shape))
        return (f"token ids ({shape}) have no spatial axis: a receptive field in px does not apply; no attention "
                "was traced, so each output position sees the tokens its own layers mix")
    if rf.units != "tokens":
        return ""  # frames and samples: the image phrase with its units (frames_unit)
    local = _axis(rf.local_size)
    n = rf.input_size[0]
    if rf.is_global:
        reach = "every earlier input token (causal attention)" if rf.causal else "every input token"
        text = (f"global over the {'prefix' if rf.causal else 'sequence'}: {n} tokens in (tokens are not px); from "
                f"`{rf.global_from}` on, every output token depends on {reach}")
        if local is not None:
            text += f"; local field before that {local} {_unit(local, 'tokens')}"
    elif local is not None:
        text = f"{local} {_unit(local, 'tokens')} (jump {_axis(rf.jump)}) of {n} tokens (tokens are not px)"
    else:
        text = "unknown along the token axis (tokens are not px)"
    if rf.reason_code:
        text += f"; local field unknown ({rf.reason_code}: {rf.reason})"
    return text


def _unit(n: str, units: str) -> str:
    return units[:-1] if n == "1" and units.endswith("s") else units


def _axis(values: Any) -> str | None:
    if not values or values[0] is None:
        return None
    v = values[0]
    return str(int(v)) if float(v).is_integer() else f"{float(v):g}"


def frames_unit(report: Any, text: str) -> str:
    """``text`` with px read as the field's units (frames, samples, tokens) for sequence inputs."""
    rf = report.receptive_field
    units = getattr(rf, "units", "px") if rf is not None else "px"
    return text.replace(" px", f" {units}") if units != "px" else text
