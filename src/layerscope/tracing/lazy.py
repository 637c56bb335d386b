"""Lazy modules (``nn.LazyLinear``, ``nn.LazyConv2d``...): materialized on the meta copy from the traced input.

A lazy module's parameters are ``UninitializedParameter``s until its first forward infers their shapes. The
meta copy gets meta-device uninitialized parameters (nothing is allocated) and one untraced forward pass
materializes them, exactly as the first eager call would; the traced pass then sees ordinary ``nn.Linear`` /
``nn.Conv2d`` layers. The user's model keeps its uninitialized parameters. When the forward cannot reach a
lazy layer (it fails before), the model is refused with LS935: its parameter count is unknowable.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter, UninitializedTensorMixin

from ..errors import TraceError


def is_uninitialized(t: Any) -> bool:
    return isinstance(t, UninitializedTensorMixin)


def meta_uninitialized(t: Any) -> Any:
    """A meta-device twin of an uninitialized parameter/buffer (materializing it allocates nothing)."""
    if isinstance(t, UninitializedParameter):
        return UninitializedParameter(requires_grad=t.requires_grad, device="meta", dtype=t.dtype)
    return UninitializedBuffer(requires_grad=t.requires_grad, device="meta", dtype=t.dtype)


def uninitialized(model: nn.Module) -> list[str]:
    names = [n for n, p in model.named_parameters() if is_uninitialized(p)]
    return names + [n for n, b in model.named_buffers() if is_uninitialized(b)]


def materialize(work: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Run one untraced forward of the meta copy ``work`` so its lazy modules infer their parameters."""
    if not uninitialized(work):
        return
    error: Exception | None = None
    try:
        with torch.inference_mode(False), torch.no_grad():
            work(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - reported below if it left parameters uninitialized
        error = exc
    left = uninitialized(work)
    if left:
        why = f": the forward failed first ({type(error).__name__}: {str(error).strip()[:200]})" if error else ""
        raise TraceError(
            f"the model has lazy parameters that this input could not materialize ({', '.join(left[:3])}"
            f"{' ...' if len(left) > 3 else ''}){why}",
            hint="check the input size; or run one forward pass on a real input first (that materializes lazy "
                 "modules), then analyze the model",
            code="LS935",
        )
