"""Findings about the trace itself rather than the model's shapes: a user hook that could not run on meta
tensors (LS125), a forward whose result holds no tensor (LS203)."""

from __future__ import annotations

from ..diagnostics import Diagnostic, make
from .context import Context, analyzer


@analyzer("LS125", "LS203")
def analyze_trace_notes(ctx: Context) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for h in ctx.options.get("hook_failures", ()):
        # reading values of a meta tensor is expected of a logging hook (info); any other exception may be the
        # hook's own check of the model failing, which the user should see (warning)
        on_meta = "meta" in h.message.lower()
        out.append(make(
            "LS125",
            f"the {h.kind} {h.hook} on {h.module} failed on meta tensors ({h.exception}: {h.message}); it was "
            "skipped and the analysis continued without it",
            hint="expected for hooks that read tensor values (logging, statistics): layerscope traces without "
                 "values; a hook that changes the layer's output is left out of the analysis",
            module=h.module, source=h.source, hook=h.hook, kind=h.kind,
            severity="info" if on_meta else "warning",
        ))
    returned = ctx.options.get("output_type")
    if returned is not None and not ctx.failures and not ctx.graph.outputs:
        out.append(make(
            "LS203",
            f"the forward returned {returned}, which holds no tensor layerscope can follow: the model has no "
            "traced output, so its status is failed",
            hint="return tensors, or tuples/lists/dicts/dataclasses of tensors (or register the container with "
                 "torch.utils._pytree)",
        ))
    return out
