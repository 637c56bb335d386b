"""Make libraries' "am I being traced?" guards see the meta trace, without importing those libraries.

Hugging Face ``transformers`` reads mask values to pick fast paths (``padding_mask.all()`` to skip an SDPA mask,
``(position_ids[:, -1] == 0).all()`` to detect packed sequences, ``torch.all(attention_mask == 1)``) unless its
``is_tracing(tensor)`` says the tensor is being traced (torch.compile, torch.jit, torch.fx, FakeTensor). A meta
tensor has no values either, so while layerscope traces, ``is_tracing(t)`` answers True for a meta ``t``: the
library then takes the data-independent path it takes under torch.compile (it builds the mask instead of
inspecting it), which costs the same or more, never less.

Why not the global flags the guard also reads (``torch.compiler.is_compiling``, ``torch.jit.is_tracing``): they
change far more than the value checks (ViT interpolates its position embeddings under ``jit.is_tracing``; module
hooks skip their exception path under ``is_compiling``), so the traced graph would no longer be eager's graph.

Only modules already in ``sys.modules`` are patched (a model built with transformers has imported them), the
patch answers differently only for meta tensors, and everything is restored when the last trace ends.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable, Iterator
from contextlib import contextmanager

import torch

_LOCK = threading.Lock()
_DEPTH = 0
_SAVED: list[tuple[Any, str, Any]] = []

# (module that defines the guard, guard name, packages whose modules may have imported it by name)
_GUARDS: tuple[tuple[str, str, str], ...] = (
    ("transformers.utils.import_utils", "is_tracing", "transformers"),
)


def _meta_aware(original: Callable[..., bool]) -> Callable[..., bool]:
    def is_tracing(tensor: Any = None, *args: Any, **kwargs: Any) -> bool:
        if isinstance(tensor, torch.Tensor) and tensor.device.type == "meta":
            return True  # no values to read: the data-independent path, as under torch.compile
        return original(tensor, *args, **kwargs)

    is_tracing.__wrapped__ = original  # type: ignore[attr-defined]
    is_tracing._layerscope_guard = True  # type: ignore[attr-defined]
    return is_tracing


def _patch() -> list[tuple[Any, str, Any]]:
    saved: list[tuple[Any, str, Any]] = []
    for home, attr, package in _GUARDS:
        mod = sys.modules.get(home)
        original = getattr(mod, attr, None) if mod is not None else None
        if original is None or getattr(original, "_layerscope_guard", False):
            continue
        wrapper = _meta_aware(original)
        prefix = package + "."
        for name, m in list(sys.modules.items()):
            if m is None or not (name == package or name.startswith(prefix)):
                continue
            d = getattr(m, "__dict__", None)
            if d is not None and d.get(attr) is original:
                saved.append((m, attr, original))
                setattr(m, attr, wrapper)
    return saved


@contextmanager
def value_guards() -> Iterator[None]:
    """While active, known "is this traced?" guards (see module doc) answer True for meta tensors."""
    global _DEPTH, _SAVED
    with _LOCK:
        if _DEPTH == 0:
            _SAVED = _patch()
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0:
                for m, attr, original in reversed(_SAVED):
                    setattr(m, attr, original)
                _SAVED = []
