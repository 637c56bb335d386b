"""Turn ``input_size`` / ``inputs`` / ``kwargs`` into meta-tensor arguments for the forward pass."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import InputSpecError

SizeSpec = Any


def _shape(spec: Any, batch_size: int | None, full_shape: bool = False) -> tuple[int, ...]:
    """The full shape of one input spec (the grammar is :mod:`layerscope.sizes`, shared with the CLI)."""
    from ..sizes import one_shape

    return one_shape(spec, batch_size=batch_size, full_shape=full_shape)


def _to_meta(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return torch.empty_like(x, device="meta") if x.device.type != "meta" else x
    if isinstance(x, torch.nn.utils.rnn.PackedSequence):  # its batch_sizes must stay on CPU
        return x._replace(data=_to_meta(x.data))
    if isinstance(x, tuple) and hasattr(x, "_fields"):  # namedtuple
        return type(x)(*(_to_meta(v) for v in x))
    if isinstance(x, (list, tuple)):
        return type(x)(_to_meta(v) for v in x)
    if isinstance(x, dict):
        return {k: _to_meta(v) for k, v in x.items()}
    return x


def make_inputs(
    input_size: SizeSpec | None,
    inputs: Any,
    kwargs: dict[str, Any] | None,
    batch_size: int | None,
    dtype: torch.dtype | None,
    *,
    full_shape: bool = False,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Positional and keyword arguments for the forward pass, all tensors on the meta device."""
    if input_size is None and inputs is None and not kwargs:
        raise InputSpecError("no input given", hint="pass input_size=224 (or a shape tuple) or inputs=<tensors>",
                             code="LS913")
    if input_size is not None and inputs is not None:
        raise InputSpecError("pass either input_size or inputs, not both", hint="drop one of them", code="LS914")
    if dtype is not None and not isinstance(dtype, torch.dtype):
        raise InputSpecError(f"dtype {dtype!r} is not a torch.dtype", hint="e.g. dtype=torch.float16", code="LS915")
    from ..sizes import check_batch_size, input_shapes

    check_batch_size(batch_size)
    args: tuple[Any, ...] = ()
    if input_size is not None:
        args = tuple(torch.empty(shape, dtype=dtype or torch.float32, device="meta")
                     for shape in input_shapes(input_size, batch_size=batch_size, full_shape=full_shape))
    elif inputs is not None:
        if isinstance(inputs, torch.Tensor) or isinstance(inputs, dict):
            inputs = (inputs,)
        elif isinstance(inputs, list):
            inputs = tuple(inputs)
        if not isinstance(inputs, tuple):
            raise InputSpecError(f"inputs of type {type(inputs).__name__} are not supported",
                                 hint="pass a tensor, a tuple of positional arguments, or kwargs=", code="LS916")
        args = _to_meta(inputs)
        if dtype is not None:
            args = tuple(a.to(dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)
    kw = _to_meta(dict(kwargs or {}))
    return args, kw


def input_names(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[tuple[str, torch.Tensor]]:
    """``(name, tensor)`` for every tensor in the inputs: ``input``, ``input.1``, ``input.0.key``, ``input_ids``."""
    found: list[tuple[str, torch.Tensor]] = []

    def walk(prefix: str, x: Any) -> None:
        if isinstance(x, torch.Tensor):
            found.append((prefix, x))
        elif isinstance(x, (list, tuple)):
            for i, v in enumerate(x):
                walk(f"{prefix}.{i}", v)
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(f"{prefix}.{k}", v)

    if len(args) == 1 and not kwargs:
        walk("input", args[0])
    else:
        for i, a in enumerate(args):
            walk(f"input.{i}", a)
    for k, v in kwargs.items():
        walk(k, v)
    return found
