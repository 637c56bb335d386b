"""Per-op rules: the op table (:mod:`.table`, no torch) and the cost rules (:mod:`.ops`, pure functions of
shapes and arguments).

The table gives every canonical op (``conv2d``, ``add``, ``matmul``...) its family, its argument names, its
receptive-field step and the key of its cost rule; a rule answers for one call with its MACs, FLOPs and, for
sliding-window ops, the per-axis window geometry the shape and receptive-field analyses use.
An op without a rule is *unknown*: its cost is not zero, it is missing, and the totals that
include it are marked partial. Ops that truly do no arithmetic (views, concatenation) have an explicit zero
rule, so "zero" is always a decision, never a default.

Conventions (stated in every report):
- MACs count multiply-accumulates of conv, transposed conv, linear, the matmul family, einsum and attention
  (torchvision's convention for ``weights.meta["_ops"]``).
- FLOPs count all arithmetic: 2 per MAC, plus bias additions, and per element: 1 for elementwise ops and
  activations, 3 for softmax (exp, sum, divide), 2 for BatchNorm in eval (folded scale and shift), 4 for a
  BatchNorm in training and for the other norms (+2 with an affine transform), 1 per kernel element for
  pooling windows, 1 per input element for reductions, 2 per neighbour for linear interpolation.

Importing this package does not import torch: the cost rules load on the first :func:`lookup`/:func:`rule`.
"""

from __future__ import annotations

from typing import Any, Callable

from . import _registry
from ._registry import Call, OpCost, canonical_name
from .table import FACTS, OPS, OpSpec, bind, family, has_fact, in_family, ops_with_fact, spec


def _builtins() -> None:
    from . import ops  # noqa: F401 - registers the built-in cost rules (imports torch)
    from . import cells, spectral  # noqa: F401 - RNN cells and weight norm, torch.fft
    from . import transformer  # noqa: F401 - losses, grouped GEMMs (MoE), histograms
    from . import data_dependent  # noqa: F401 - nms, roi_align, grid_sample, meshgrid, quantize casts


def lookup(name: str) -> Any:
    """The cost rule of canonical op ``name`` (None: no rule, the op is counted as unknown)."""
    _builtins()
    return _registry.lookup(name)


def rule(*names: str) -> Callable[[Any], Any]:
    """Register a cost rule for ops the table does not cost; an op that has a rule is refused."""
    _builtins()
    return _registry.rule(*names)


def lookup_backward(name: str) -> Any:
    """The backward cost rule of canonical op ``name`` (None: none registered)."""
    _builtins()
    return _registry.lookup_backward(name)


def registered_ops() -> frozenset[str]:
    _builtins()
    return _registry.registered_ops()


__all__ = ["Call", "FACTS", "OPS", "OpCost", "OpSpec", "bind", "canonical_name", "family", "has_fact",
           "in_family", "lookup", "lookup_backward", "ops_with_fact", "registered_ops", "rule", "spec"]
