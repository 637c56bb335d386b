"""Keep tracing after a shape bug: fabricate the output the next layer most likely expects.

The tracer calls :func:`recover` from ``Tracer.on_error`` when an op raised. A meta tensor returned here is
used as the op's output and the forward goes on, so independent bugs further down are reported in the same
run; ``None`` means "no sensible substitute" and the original exception ends the trace.

This is the one analysis module that imports torch: it runs inside the tracer, on meta tensors only.
Every substitute is recorded in ``failure.extra["substitute"]`` (its shape and the reasoning), so the
report can say that later findings rest on an assumed shape.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from ..rules import bind, canonical_name, family, has_fact, spec



def _tensor_args(args: Any) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    for a in args:
        if isinstance(a, torch.Tensor):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out.extend(t for t in a if isinstance(t, torch.Tensor))
    return out


def _empty(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    return torch.empty(shape, dtype=like.dtype, device="meta")


def recover_elementwise(func: Callable, args: tuple, kwargs: dict, inplace: bool) -> torch.Tensor | None:
    """A residual merge that does not broadcast: continue with the first operand's shape (the main branch,
    as in ``out += identity``), which is what the layers after the merge were built for."""
    tensors = _tensor_args(args)
    if not tensors:
        return None
    first = tensors[0]
    if inplace:
        return first  # ``out += x`` returns ``out`` itself
    return _empty(tuple(first.shape), first)


def recover_cat(args: tuple, kwargs: dict) -> torch.Tensor | None:
    """Concatenation of mismatched tensors: as if every operand were cropped/padded to the first one."""
    a = bind("cat", args, kwargs)  # arguments by name, from the op table
    seq = a.get("tensors")
    if not isinstance(seq, (list, tuple)) or not seq or not all(isinstance(t, torch.Tensor) for t in seq):
        return None
    first = seq[0]
    if any(t.dim() != first.dim() for t in seq):
        return None
    dim = int(a.get("dim") or 0) % first.dim()
    shape = list(first.shape)
    shape[dim] = sum(int(t.shape[dim]) for t in seq)
    return _empty(tuple(shape), first)


def recover_stack(args: tuple, kwargs: dict) -> torch.Tensor | None:
    a = bind("stack", args, kwargs)
    seq = a.get("tensors")
    if not isinstance(seq, (list, tuple)) or not seq or not isinstance(seq[0], torch.Tensor):
        return None
    first = seq[0]
    dim = int(a.get("dim") or 0) % (first.dim() + 1)
    shape = list(first.shape)
    shape.insert(dim, len(seq))
    return _empty(tuple(shape), first)


def recover_linear(args: tuple, kwargs: dict) -> torch.Tensor | None:
    """``input[:-1] + (out_features,)``: what the Linear would give with the right ``in_features``."""
    a = bind("linear", args, kwargs)
    x, w = a.get("input"), a.get("weight")
    if not isinstance(x, torch.Tensor) or not isinstance(w, torch.Tensor) or x.dim() < 1:
        return None
    out_features = int(w.shape[0]) if w.dim() == 2 else 1
    return _empty(tuple(x.shape[:-1]) + ((out_features,) if w.dim() == 2 else ()), x)


def recover_conv(func: Callable, args: tuple, kwargs: dict, transposed: bool) -> torch.Tensor | None:
    """Rerun the conv with a weight whose input-channel dim fits the actual input: the output then follows
    the conv formula with the layer's own out channels, kernel, stride, padding and dilation."""
    name, _ = canonical_name(func)
    a = bind(name, args, kwargs)
    x, w = a.get("input"), a.get("weight")
    if not isinstance(x, torch.Tensor) or not isinstance(w, torch.Tensor) or x.dim() < w.dim() - 1:
        return None
    declared = int(a.get("groups") or 1)
    groups = declared
    channels = int(x.shape[-(w.dim() - 1)])
    if transposed:  # weight (C_in, C_out/groups, *k)
        if channels % groups:
            groups = 1
        fixed = torch.empty((channels,) + tuple(w.shape[1:]), dtype=w.dtype, device="meta")
    else:  # weight (C_out, C_in/groups, *k)
        if channels % groups or int(w.shape[0]) % groups:
            groups = 1
        fixed = torch.empty((int(w.shape[0]), channels // groups) + tuple(w.shape[2:]), dtype=w.dtype,
                            device="meta")
    sig = spec(name).signature  # type: ignore[union-attr]
    new_args = list(args)
    new_kwargs = dict(kwargs)
    for arg_name, value in (("weight", fixed), ("groups", groups)):
        i = sig.index(arg_name)
        if len(new_args) > i:
            new_args[i] = value
        elif arg_name in new_kwargs or value != (declared if arg_name == "groups" else None):
            new_kwargs[arg_name] = value
    try:
        return func(*new_args, **new_kwargs)
    except (RuntimeError, ValueError, TypeError):  # still inconsistent (a kernel larger than the input): give up
        return None


def recover_matmul(args: tuple, kwargs: dict) -> torch.Tensor | None:
    """The shape ``a @ b`` would have with the inner dimension matched. When both operands end in the same
    size (``q @ k`` for ``q @ k.transpose(-2, -1)``, the usual slip) that is ``a @ b.mT``: ``(..., n, k_rows)``;
    otherwise ``(..., n, m)`` with ``b``'s last dim kept."""
    tensors = _tensor_args(args)
    if len(tensors) < 2:
        return None
    a, b = tensors[0], tensors[1]
    if a.dim() < 1 or b.dim() < 1:
        return None
    if b.dim() == 1:
        fixed = torch.empty((int(a.shape[-1]),), dtype=b.dtype, device="meta")
    elif a.shape[-1] == b.shape[-1]:
        fixed = b.mT
    else:
        fixed = torch.empty(tuple(b.shape[:-2]) + (int(a.shape[-1]), int(b.shape[-1])), dtype=b.dtype,
                            device="meta")
    try:
        return torch.matmul(a, fixed)
    except (RuntimeError, ValueError, TypeError):  # batch dims that do not broadcast either
        return None


def _requested_shape(a: dict) -> list[int] | None:
    """The ``shape`` of a view/reshape call (``rules.bind`` gathers ``view(2, -1)`` and ``view((2, -1))``)."""
    rest = a.get("shape")
    if not isinstance(rest, (list, tuple)) or not rest or not all(isinstance(s, int) for s in rest):
        return None
    return [int(s) for s in rest]


def recover_reshape(args: tuple, kwargs: dict) -> torch.Tensor | None:
    """A view/reshape to an incompatible size: continue with the shape that was asked for, which is what
    the layers after it were written for (``view(N, 16*8*8)`` gives ``(N, 1024)``). A single ``-1`` is
    resolved from the element count when that divides; otherwise the intended shape is not derivable."""
    x = args[0] if args and isinstance(args[0], torch.Tensor) else None
    target = _requested_shape(bind("view", args, kwargs))
    if x is None or target is None or not target:
        return None
    if target.count(-1) > 1 or any(s < -1 for s in target):
        return None
    if -1 in target:
        known = math.prod(s for s in target if s != -1)
        if known <= 0 or x.numel() % known:
            return None
        target = [x.numel() // known if s == -1 else s for s in target]
    return _empty(tuple(target), x)


def substitute_for(name: str, inplace: bool, func: Callable, args: tuple, kwargs: dict) -> torch.Tensor | None:
    """The substitute output for a failed op named ``name`` (canonical), or None."""
    fam = family(name)
    if fam == "elementwise_binary":
        return recover_elementwise(func, args, kwargs, inplace)
    if fam == "concat":
        return recover_cat(args, kwargs)
    if has_fact(name, "new_dim"):
        return recover_stack(args, kwargs)
    if fam == "linear":
        return recover_linear(args, kwargs)
    if fam == "conv":
        return recover_conv(func, args, kwargs, transposed=False)
    if fam == "conv_transpose":
        return recover_conv(func, args, kwargs, transposed=True)
    if fam == "matmul":
        return recover_matmul(args, kwargs)
    if fam == "reshape":
        return recover_reshape(args, kwargs)
    return None  # data-dependent ops (.item(), bool(x)), unsupported kernels...: no sensible guess


def recover(tracer: Any, failure: Any, func: Callable, args: tuple, kwargs: dict | None,
            exc: BaseException) -> torch.Tensor | None:
    """The tracer's recovery hook: a meta substitute for the failed op's output, or None to stop.

    Records what was substituted in ``failure.extra["substitute"]`` (a shape tuple).
    """
    kwargs = kwargs or {}
    name, inplace = canonical_name(func)
    try:
        out = substitute_for(name, inplace, func, tuple(args), kwargs)
    except (RuntimeError, ValueError, TypeError):  # PyTorch refuses the substitute too: stop here (a bug raises)
        return None
    if family(name) in ("conv", "conv_transpose"):  # the explanation needs the declared groups (not in the graph)
        failure.extra["groups"] = int(bind(name, tuple(args), kwargs).get("groups") or 1)
    if out is not None:
        failure.extra["substitute"] = tuple(int(s) for s in out.shape)
    return out
