"""Mixed-dtype operands of weight ops, refused as PyTorch refuses them outside autocast.

Meta kernels do not check dtypes consistently: a float input into a ``.half()`` Linear runs on meta while
eager PyTorch raises "expected m1 and m2 to have the same dtype", and some convs fail on meta and others
do not. So the tracer applies one rule to every weight op (conv, transposed conv, linear, the matmul family,
einsum, bilinear, RNN cells): all floating-point tensor operands must have the same dtype, else the op fails
like in eager mode (LS100 at that layer). Norms are not checked: eager CPU accepts a half/bfloat16 input with
float32 norm parameters. Inside ``torch.autocast`` nothing is checked (autocast casts the operands).
"""

from __future__ import annotations

from typing import Any

import torch

from ..rules import in_family

#: op-table families whose floating operands must share one dtype (the weight ops)
CHECKED_FAMILIES = ("conv", "convolution", "conv_transpose", "linear", "bilinear", "matmul", "addmm",
                    "vector_product", "einsum", "rnn_cell")


def _autocast() -> bool:
    for device in ("cpu", "cuda"):
        try:
            if torch.is_autocast_enabled(device):
                return True
        except TypeError:  # older torch: no device argument
            return bool(torch.is_autocast_enabled())
    return False


def check_dtypes(name: str, tensors: list[torch.Tensor]) -> None:
    """Raise the eager-style RuntimeError when a weight op mixes floating dtypes."""
    if not in_family(name, *CHECKED_FAMILIES):
        return
    found: list[torch.dtype] = []
    for t in tensors:
        if t.is_floating_point() and t.dtype not in found:
            found.append(t.dtype)
    if len(found) > 1 and not _autocast():
        names = " and ".join(str(d).replace("torch.", "") for d in found)
        raise RuntimeError(f"expected all operands of {name} to have the same dtype, but got {names} "
                           "(eager PyTorch refuses this too)")
