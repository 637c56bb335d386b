"""Output-size arithmetic of sliding-window layers: pure functions of integers, no torch.

    L_out = floor((L_in + 2p - d(k-1) - 1) / s) + 1            (torch.nn.Conv2d / MaxPool2d docs)
    L_out = ceil(...) + 1, last window must start inside       (ceil_mode=True, MaxPool2d docs)
    L_out = (L_in - 1)s - 2p + d(k-1) + output_padding + 1      (torch.nn.ConvTranspose2d docs)

Padding may be one int (both sides) or a ``(left, right)`` pair, which is how asymmetric padding
(``F.pad`` folded into a conv, ``padding="same"`` with an even kernel) is described.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence, Union

from .errors import ConfigError

Padding = Union[int, tuple[int, int]]

__all__ = ["WindowAxis", "output_size", "explain_output_size", "trace_sizes", "same_padding"]


def _pair(padding: Padding) -> tuple[int, int]:
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ConfigError(f"padding {padding!r} must be an int or a (left, right) pair", code="LS942")
        return int(padding[0]), int(padding[1])
    return int(padding), int(padding)


def same_padding(kernel: int, dilation: int = 1) -> tuple[int, int]:
    """Padding of ``padding="same"`` for stride 1: total ``d(k-1)``, the extra pixel on the right.

    This is PyTorch's convention for even effective kernels (torch.nn.functional.conv2d, "same").
    """
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class WindowAxis:
    """One spatial axis of a sliding-window op (conv, pool, transposed conv), enough to recompute its size."""

    size_in: int
    kernel: int
    stride: int = 1
    padding: tuple[int, int] = (0, 0)
    dilation: int = 1
    ceil_mode: bool = False
    transposed: bool = False
    output_padding: int = 0

    @property
    def effective_kernel(self) -> int:
        # k_eff = d(k-1) + 1
        return self.dilation * (self.kernel - 1) + 1

    def explain(self) -> tuple[int, str]:
        """``(size_out, formula)`` of this axis."""
        return explain_output_size(
            self.size_in, self.kernel, stride=self.stride, padding=self.padding, dilation=self.dilation,
            ceil_mode=self.ceil_mode, transposed=self.transposed, output_padding=self.output_padding,
        )

    @property
    def size_out(self) -> int:
        return self.explain()[0]

    @property
    def formula(self) -> str:
        return self.explain()[1]

    @property
    def dropped(self) -> int:
        """Input pixels (not padding) at the end that no window reaches because floor division dropped them.

        Only counted when windows touch or overlap (k_eff >= stride): a kernel smaller than its stride skips
        pixels everywhere, which is a different finding.
        """
        if self.transposed or self.ceil_mode or self.effective_kernel < self.stride:
            return 0
        pl, pr = self.padding
        span = self.size_in + pl + pr - self.effective_kernel
        if span < 0:
            return 0
        remainder = span % self.stride
        return max(0, remainder - pr)

    def to_dict(self) -> dict:
        return {
            "size_in": self.size_in, "kernel": self.kernel, "stride": self.stride, "padding": list(self.padding),
            "dilation": self.dilation, "ceil_mode": self.ceil_mode, "transposed": self.transposed,
            "output_padding": self.output_padding,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "WindowAxis":
        return cls(**{**d, "padding": tuple(d["padding"])})


def explain_output_size(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: Padding | str = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
    transposed: bool = False,
    output_padding: int = 0,
) -> tuple[int, str]:
    """Return ``(out, formula)`` where formula is the arithmetic with the numbers filled in.

    >>> explain_output_size(224, 7, stride=2, padding=3)
    (112, '(224 + 2*3 - 1*(7-1) - 1)//2 + 1 = 112')
    """
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif padding == "same":
            if stride != 1:
                raise ConfigError("padding='same' is only defined for stride 1 (as in PyTorch)", code="LS942")
            padding = same_padding(kernel, dilation)
        else:
            raise ConfigError(f"unknown padding {padding!r}; use an int, a pair, 'same' or 'valid'", code="LS942")
    if min(kernel, stride, dilation) < 1 or size < 0:
        raise ConfigError(
            f"kernel, stride and dilation must be >= 1 and size >= 0 (got size={size}, kernel={kernel}, "
            f"stride={stride}, dilation={dilation})",
            code="LS943",
        )
    pl, pr = _pair(padding)
    pad_txt = f"2*{pl}" if pl == pr else f"{pl} + {pr}"
    if transposed:
        # L_out = (L_in - 1)s - 2p + d(k-1) + output_padding + 1
        out = (size - 1) * stride - pl - pr + dilation * (kernel - 1) + output_padding + 1
        op = f" + {output_padding}" if output_padding else ""
        formula = f"({size} - 1)*{stride} - {pad_txt} + {dilation}*({kernel}-1){op} + 1 = {out}"
        return out, formula
    span = size + pl + pr - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = -(-span // stride) + 1 if span >= 0 else 0
        # PyTorch: the last pooling window must start inside the input or the left padding.
        if out > 0 and (out - 1) * stride >= size + pl:
            out -= 1
        formula = f"ceil(({size} + {pad_txt} - {dilation}*({kernel}-1) - 1)/{stride}) + 1 = {out}"
    else:
        out = span // stride + 1 if span >= 0 else 0
        formula = f"({size} + {pad_txt} - {dilation}*({kernel}-1) - 1)//{stride} + 1 = {out}"
    return out, formula


def output_size(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: Padding | str = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
    transposed: bool = False,
    output_padding: int = 0,
) -> int:
    """Output length of a conv / pool / transposed conv along one axis.

    >>> output_size(224, 7, stride=2, padding=3)   # (224 + 2*3 - 7)//2 + 1
    112
    >>> output_size(7, 3, stride=2, padding=1, transposed=True, output_padding=1)
    14
    """
    return explain_output_size(size, kernel, stride, padding, dilation, ceil_mode, transposed, output_padding)[0]


def _layer_args(layer: Sequence[int] | dict) -> dict:
    if isinstance(layer, dict):
        return dict(layer)
    names = ("kernel", "stride", "padding", "dilation")
    if not 1 <= len(layer) <= 4:
        raise ConfigError(f"a layer is (kernel, stride, padding[, dilation]); got {layer!r}", code="LS944")
    return dict(zip(names, layer))


def trace_sizes(size: int, layers: Iterable[Sequence[int] | dict]) -> list[int]:
    """Sizes through a stack of layers, each ``(kernel, stride, padding)`` or a dict of output_size args.

    >>> trace_sizes(32, [(3, 1, 1), (2, 2, 0), (3, 1, 1), (2, 2, 0), (3, 1, 1), (2, 2, 0)])
    [32, 32, 16, 16, 8, 8, 4]
    """
    sizes = [size]
    for layer in layers:
        sizes.append(output_size(sizes[-1], **_layer_args(layer)))
    return sizes


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def adaptive_window(size_in: int, size_out: int, i: int) -> tuple[int, int]:
    """Start and end of the i-th window of an adaptive pool (torch's floor/ceil convention)."""
    start = math.floor(i * size_in / size_out)
    end = math.ceil((i + 1) * size_in / size_out)
    return start, end
