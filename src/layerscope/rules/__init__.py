"""Per-op counting rules: pure functions of shapes and arguments, registered by canonical op name.

A rule answers for one functional/tensor op (``conv2d``, ``add``, ``matmul``...) with its MACs, FLOPs and,
for sliding-window ops, the per-axis window geometry the shape and receptive-field analyses use.
An op without a registered rule is *unknown*: its cost is not zero, it is missing, and the totals that
include it are marked partial. Ops that truly do no arithmetic (views, concatenation) are registered with
an explicit zero rule, so "zero" is always a decision, never a default.

Conventions (stated in every report):
- MACs count multiply-accumulates of conv, transposed conv, linear, the matmul family, einsum and attention
  (torchvision's convention for ``weights.meta["_ops"]``).
- FLOPs count all arithmetic: 2 per MAC, plus bias additions, and per element: 1 for elementwise ops and
  activations, 3 for softmax (exp, sum, divide), 2 for BatchNorm in eval (folded scale and shift), 4 for a
  BatchNorm in training and for the other norms (+2 with an affine transform), 1 per kernel element for
  pooling windows, 1 per input element for reductions, 2 per neighbour for linear interpolation.
"""

from __future__ import annotations

from ._registry import Call, OpCost, canonical_name, lookup, registered_ops, rule

from . import ops as _ops  # noqa: F401  (registers the rules)
from . import cells as _cells  # noqa: F401  (RNN cells, weight norm)
from . import spectral as _spectral  # noqa: F401  (torch.fft)

__all__ = ["Call", "OpCost", "canonical_name", "lookup", "registered_ops", "rule"]
