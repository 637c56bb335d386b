"""The input-size grammar: one set of rules for ``analyze(input_size=...)``, ``--input-size`` and
``[tool.layerscope]``. No torch here (the CLI and the config parser use it before torch is imported).

- an int ``s``: one square RGB image batch ``(N, 3, s, s)``;
- a shape of 3 dims ``(C, H, W)``: an image without its batch dimension, which gets ``N`` prepended;
- a shape of any other length is used **as written**, batch first, as torchinfo does: ``(N, F)`` for an MLP
  or a ``(2, 10)`` token batch, ``(N, C, H, W)``, ``(N, C, D, H, W)``; ``full_shape=True`` (``--full-shape``)
  uses 3-dim shapes as written too (``(N, C, L)`` for Conv1d, ``(N, L, E)`` sequences);
- several inputs: a list of shapes in Python (``[(3, 32, 32), (10,)]``; a list of ints is *one* shape, like a
  tuple), several values on the command line (``-s 3x32x32 3x32x32``);
- ``N`` is ``batch_size`` (default 1) where the shape lacks it; a shape that has it must agree with
  ``batch_size`` when both are given. Every size, the batch included, must be >= 1.

On the command line and in pyproject.toml a shape is written ``3x224x224`` (or ``3,224,224``).

>>> input_shapes(224), input_shapes((3, 32, 32), batch_size=2), input_shapes((2, 10))
([(1, 3, 224, 224)], [(2, 3, 32, 32)], [(2, 10)])
>>> parse_size("1x3x224x224"), parse_size("224")
((1, 3, 224, 224), 224)
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigError, InputSpecError

EXAMPLES = "224 (a 1x3x224x224 batch), 3x224x224 (C x H x W, batch added), 1x3x224x224 or 2x10 (as written)"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_size(value: Any, *, where: str = "--input-size") -> int | tuple[int, ...]:
    """One size as written on the command line or in pyproject.toml: ``224`` -> 224; ``"3x224x224"``,
    ``"3,224,224"`` or ``[3, 224, 224]`` -> ``(3, 224, 224)``. Malformed text (``3x``, ``x3``, ``3xx4``,
    ``3x a``) and sizes < 1 are refused."""
    if _is_int(value):
        nums = [value]
    elif isinstance(value, (list, tuple)) and value and all(_is_int(v) for v in value):
        nums = list(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(",", "x")
        parts = text.split("x")
        if not text or any(not p.strip().isdigit() for p in parts):
            raise ConfigError(
                f"input size {value!r} in {where} is not an int or a shape like 3x224x224",
                hint=f"sizes are written {EXAMPLES}; every part is a positive int", code="LS941")
        nums = [int(p) for p in parts]
    else:
        raise ConfigError(f"input size {value!r} in {where} is not an int, \"CxHxW\" or a list of ints",
                          hint=f"sizes are written {EXAMPLES}", code="LS941")
    if any(n < 1 for n in nums):
        raise InputSpecError(f"input size {value!r} in {where} has a size below 1",
                             hint="every size, the batch included, must be >= 1", code="LS912")
    return nums[0] if _is_int(value) or (isinstance(value, str) and len(nums) == 1) else tuple(nums)


def check_batch_size(batch_size: Any, *, where: str = "batch_size") -> int | None:
    """None, or a positive int (``--batch-size 0`` is refused, not read as 1)."""
    if batch_size is None:
        return None
    if not _is_int(batch_size) or batch_size < 1:
        raise InputSpecError(f"{where} {batch_size!r} must be a positive int", hint="e.g. batch_size=8 "
                             "(--batch-size 8); leave it out for a batch of 1", code="LS912")
    return batch_size


def _specs(input_size: Any) -> list[Any]:
    """The per-input specs of a Python ``input_size``: a list holding any non-int is several inputs."""
    if isinstance(input_size, list) and input_size and not all(_is_int(v) for v in input_size):
        return list(input_size)
    return [input_size]


def one_shape(spec: Any, *, batch_size: int | None = None, full_shape: bool = False) -> tuple[int, ...]:
    """The full shape (batch first) of one input spec; see the module docstring for the rules."""
    batch_size = check_batch_size(batch_size)
    if _is_int(spec):
        dims: tuple[int, ...] = (batch_size or 1, 3, spec, spec)
    else:
        if not isinstance(spec, (tuple, list)):  # torch.Size is a tuple
            raise InputSpecError(
                f"input_size entry {spec!r} is not an int or a tuple of ints",
                hint="use input_size=224, (3, 224, 224), (1, 3, 224, 224), or a list of such tuples",
                code="LS911")
        given = tuple(spec)
        if not given or not all(_is_int(d) for d in given):
            raise InputSpecError(f"input_size {spec!r} must be a non-empty tuple of ints",
                                 hint="use input_size=224, (3, 224, 224) or (1, 3, 224, 224)", code="LS911")
        if len(given) == 3 and not full_shape:  # (C, H, W): the batch dimension is added
            dims = (batch_size or 1, *given)
        else:
            dims = given
            if batch_size is not None and dims[0] != batch_size:
                raise InputSpecError(
                    f"input_size {given} already has batch {dims[0]}, but batch_size is {batch_size}",
                    hint=f"drop batch_size, or write the shape with batch {batch_size}: "
                         f"{(batch_size, *dims[1:])}", code="LS919")
    if any(d < 1 for d in dims):
        raise InputSpecError(f"input shape {dims} has a zero or negative size",
                             hint="every size, the batch included, must be >= 1", code="LS912")
    return dims


def input_shapes(input_size: Any, *, batch_size: int | None = None, full_shape: bool = False) -> list[tuple[int, ...]]:
    """The full shape of every input that ``input_size`` describes (one per positional input)."""
    return [one_shape(s, batch_size=batch_size, full_shape=full_shape) for s in _specs(input_size)]


def cli_input_size(values: list[str], *, batch_size: int | None = None, where: str = "--input-size") -> Any:
    """``-s V [V ...]``: one value is one input; several values are several inputs (an int ``s`` becomes its
    full shape ``(N, 3, s, s)``, so that the Python API reads the list as several inputs, not as one shape)."""
    sizes = [parse_size(v, where=where) for v in values]
    if len(sizes) == 1:
        return sizes[0]
    return [one_shape(s, batch_size=batch_size) if _is_int(s) else s for s in sizes]


__all__ = ["EXAMPLES", "check_batch_size", "cli_input_size", "input_shapes", "one_shape", "parse_size"]
