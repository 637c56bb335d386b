"""The tensors inside whatever a forward returns: tensors, tuples, lists, dicts, namedtuples, dataclasses
(frozen or not), anything registered with ``torch.utils._pytree`` (Hugging Face ``ModelOutput``...), nested.

``torch.utils._pytree`` is private API; :func:`_children` is the one place that calls it, one level at a time,
so a dataclass nested in a pytree node (or the reverse) is still walked. Without pytree (an older torch), the
builtin containers and dataclasses are still handled.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

_SCALARS = (int, float, bool, str, bytes, complex, type(None), torch.dtype, torch.device, torch.Size)


def _children(x: Any) -> list[Any] | None:
    """The direct children of container ``x`` in order, None for a leaf."""
    if isinstance(x, (list, tuple)):
        return list(x)
    if isinstance(x, dict):
        return list(x.values())
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return [getattr(x, f.name) for f in dataclasses.fields(x)]
    try:  # compat shim: one level of a registered pytree node
        from torch.utils import _pytree

        leaves, _ = _pytree.tree_flatten(x, is_leaf=lambda y: y is not x)
    except Exception:  # noqa: BLE001 - no pytree, or a node whose flatten fails: a leaf
        return None
    if len(leaves) == 1 and leaves[0] is x:
        return None
    return leaves


def output_tensors(x: Any, out: list[torch.Tensor] | None = None, _depth: int = 0) -> list[torch.Tensor]:
    """Every tensor in ``x`` in a stable order (depth first, fields/keys in definition order)."""
    if out is None:
        out = []
    if isinstance(x, torch.Tensor):
        out.append(x)
        return out
    if isinstance(x, _SCALARS) or _depth > 64:
        return out
    kids = _children(x)
    if kids:
        for v in kids:
            output_tensors(v, out, _depth + 1)
    return out


def describe(x: Any) -> str:
    """The type of a returned object for a message: ``Out (a dataclass)``, ``NoneType``."""
    name = type(x).__name__
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return f"{name} (a dataclass)"
    return name
