"""``training_cost``: one training step (forward, backward, optimizer step) on meta tensors.

Answers "will it train, and at what batch size": the bytes live at the step's peak by kind, the backward
MACs/FLOPs per layer, and the largest batch whose peak fits a memory budget. The model is never touched
and no real memory is allocated (see ``layerscope.tracing.training`` for how it is measured).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Sequence

KINDS = ("params", "buffers", "grads", "optimizer", "activations", "workspace")


@dataclass(frozen=True)
class MemoryPoint:
    """Live bytes by kind right after one aten op of the step."""

    index: int
    phase: str  # "setup" (the state before the step), "forward", "backward", "step"
    op: str
    params: int
    buffers: int
    grads: int
    optimizer: int
    activations: int
    workspace: int

    @property
    def total(self) -> int:
        return self.params + self.buffers + self.grads + self.optimizer + self.activations + self.workspace


@dataclass(frozen=True)
class LayerTrainingCost:
    """One layer (a node of the forward graph) in the training step."""

    name: str
    type: str
    forward_macs: int
    backward_macs: int
    backward_flops: int
    backward_known: bool
    saved_bytes: int  # activation bytes saved for backward that this layer saved first
    grad_bytes: int  # bytes of its parameters' gradients
    call: int = 0  # which call of the module (a module used twice, like a shared ReLU, is two layers)

    @property
    def label(self) -> str:
        """The name, with the call number from a module's second call on: ``layer1.0.relu (call 2)``."""
        return self.name if self.call == 0 else f"{self.name} (call {self.call + 1})"


@dataclass(frozen=True)
class TrainingCost:
    """What one training step costs. Built by :func:`training_cost`.

    ``peak_bytes`` is the most bytes live at once (after any op of forward, backward and optimizer step),
    ``breakdown`` splits it by kind; ``timeline`` has the live bytes after every op.
    """

    model: str
    batch_size: int | None
    optimizer: str
    precision: str
    peak_bytes: int
    breakdown: Mapping[str, int]
    peak_phase: str
    peak_op: str
    forward_macs: int
    backward_macs: int
    forward_flops: int
    backward_flops: int
    complete: bool
    unknown_ops: Mapping[str, int]
    layers: tuple[LayerTrainingCost, ...]
    timeline: tuple[MemoryPoint, ...]
    checkpointed: tuple[str, ...] = ()
    _rerun: Callable[[int], "TrainingCost"] | None = field(default=None, compare=False, repr=False)

    @property
    def model_state_bytes(self) -> int:
        """Params, buffers, gradients and optimizer state at the peak."""
        b = self.breakdown
        return b["params"] + b["buffers"] + b["grads"] + b["optimizer"]

    @property
    def saved_bytes(self) -> int:
        """Activation bytes saved for backward (each tensor once)."""
        return sum(layer.saved_bytes for layer in self.layers)

    @property
    def table(self) -> Any:
        """Per layer: forward and backward MACs, backward FLOPs, saved-for-backward bytes, gradient bytes."""
        import pandas as pd

        return pd.DataFrame([{"name": x.name, "call": x.call, "type": x.type, "forward_macs": x.forward_macs,
                              "backward_macs": x.backward_macs, "backward_flops": x.backward_flops,
                              "saved_bytes": x.saved_bytes, "grad_bytes": x.grad_bytes,
                              "complete": x.backward_known} for x in self.layers])

    def top_saved(self, k: int = 10) -> list[LayerTrainingCost]:
        """The ``k`` layers that save the most activation bytes for backward."""
        return sorted((x for x in self.layers if x.saved_bytes), key=lambda x: -x.saved_bytes)[:k]

    def max_batch_size(self, memory: Any, *, limit: int = 1 << 20) -> int:
        """The largest batch size whose peak fits in ``memory`` (bytes, or ``"24GiB"``, ``"80G"``); 0 if none.

        The live bytes after each op are affine in the batch size for most models: two traces give each op's
        line (the peak moves from the optimizer step to the backward as the batch grows), the first line to
        reach the budget is the answer, verified by a trace at it (fits) and at it + 1 (does not); a model where
        the lines are off is searched by bisection between what is known to fit and what is not.
        """
        from .check import parse_quantity

        budget = parse_quantity(memory, what="memory")
        if self._rerun is None or self.batch_size is None:
            from .errors import LayerscopeError

            raise LayerscopeError("max_batch_size needs a TrainingCost built by training_cost() with a batch",
                                  code="LS984", hint="call layerscope.training_cost(model, input_size=..., "
                                                     "batch_size=...) first")
        peaks: dict[int, int] = {self.batch_size: self.peak_bytes}
        runs: dict[int, TrainingCost] = {self.batch_size: self}

        def peak(b: int) -> int:
            if b not in peaks:
                runs[b] = self._rerun(b)
                peaks[b] = runs[b].peak_bytes
            return peaks[b]

        b0 = self.batch_size
        lo, hi = 0, None  # lo fits (0: nothing known to fit); hi, if known, does not
        b1 = b0 * 2 if self.peak_bytes <= budget else max(b0 // 2, 1)
        if b1 == b0:
            b1 = b0 + 1
        peak(b1)
        guess = _affine_answer(runs[b0], runs[b1], budget)
        for b, p in peaks.items():
            if p <= budget:
                lo = max(lo, b)
            elif hi is None or b < hi:
                hi = b
        # the line's answer is verified: a trace at it (fits) and at it + 1 (does not); else search
        for b in (guess, guess + 1):
            if 1 <= b <= limit and (hi is None or b < hi) and b > lo:
                if peak(b) <= budget:
                    lo = b
                else:
                    hi = b
        while hi is None:
            b = min(max(lo, 1) * 2, limit)
            if peak(b) <= budget:
                lo = b
                if b == limit:
                    return limit
            else:
                hi = b
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if peak(mid) <= budget:
                lo = mid
            else:
                hi = mid
        return lo

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "batch_size": self.batch_size, "optimizer": self.optimizer,
            "precision": self.precision, "peak_bytes": self.peak_bytes, "breakdown": dict(self.breakdown),
            "peak_phase": self.peak_phase, "peak_op": self.peak_op, "forward_macs": self.forward_macs,
            "backward_macs": self.backward_macs, "forward_flops": self.forward_flops,
            "backward_flops": self.backward_flops, "complete": self.complete, "unknown_ops": dict(self.unknown_ops),
            "checkpointed": list(self.checkpointed),
            "layers": [asdict(x) for x in self.layers],
        }


def _affine_answer(a: TrainingCost, b: TrainingCost, budget: int) -> int:
    """The batch at which the first op's live bytes, each affine in the batch (two traces give its line),
    reaches ``budget``; the peak moves between ops as the batch grows (model states vs activations)."""
    import difflib

    ba, bb = a.batch_size or 1, b.batch_size or 1
    # pair the ops of the two traces (a batch size can add or drop a view here and there)
    names_a = [(p.phase, p.op) for p in a.timeline]
    names_b = [(p.phase, p.op) for p in b.timeline]
    ta, tb = [], []
    for block in difflib.SequenceMatcher(None, names_a, names_b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            ta.append(a.timeline[block.a + k].total)
            tb.append(b.timeline[block.b + k].total)
    if not ta:
        ta, tb = [a.peak_bytes], [b.peak_bytes]
    best = None
    for x, y in zip(ta, tb):
        slope = (y - x) / (bb - ba)
        if slope <= 0:
            if x > budget:
                return 0
            continue
        n = int((budget - (x - slope * ba)) // slope)
        best = n if best is None else min(best, n)
    return max(best if best is not None else max(ba, bb) * 2, 0)


def training_cost(
    model: Any,
    input_size: Any = None,
    *,
    inputs: Any = None,
    kwargs: dict[str, Any] | None = None,
    batch_size: int | None = None,
    dtype: Any = None,
    optimizer: Any = "adamw",
    precision: str = "fp32",
    checkpoint: Sequence[str] | str | Callable[[str, Any], bool] | None = None,
    loss: Callable[[Any], Any] | None = None,
) -> TrainingCost:
    """Run one training step of ``model`` on meta tensors and measure it.

    The step is the steady state of ``opt.zero_grad(set_to_none=True); loss = loss_fn(model(x));
    loss.backward(); opt.step()``: the optimizer's state exists before it, gradients do not; the inputs do not
    require grad (the first layer computes no input gradient). ``loss`` defaults to the sum of every floating
    output that requires grad.

    ``optimizer``: ``"sgd"``, ``"sgd-momentum"``, ``"adam"``, ``"adamw"``, an optimizer class or a factory
    ``params -> optimizer``. ``precision``: ``"fp32"``, ``"bf16"``, ``"fp16"`` (the whole model in that dtype),
    ``"bf16-mixed"``, ``"fp16-mixed"`` (autocast as on CUDA, fp32 master weights). ``checkpoint``: module
    names (or a predicate ``(name, module) -> bool``) run under activation checkpointing.

    >>> import torch, layerscope
    >>> net = torch.nn.Sequential(torch.nn.Linear(1000, 1000), torch.nn.ReLU(), torch.nn.Linear(1000, 10))
    >>> t = layerscope.training_cost(net, input_size=(64, 1000), optimizer="sgd")
    >>> t.backward_macs == 64 * (1000 * 10 * 2 + 1000 * 1000)   # no input gradient for the first layer
    True
    """
    import torch

    from .errors import InputSpecError
    from .tracing import make_inputs
    from .tracing.training import trace_step

    if not isinstance(model, torch.nn.Module):
        raise InputSpecError(f"model must be a torch.nn.Module, not {type(model).__name__}",
                             hint="pass the module instance, e.g. training_cost(MyNet(), input_size=224)",
                             code="LS917")
    args, kw = make_inputs(input_size, inputs, kwargs, batch_size, dtype)
    for t in _leaves(args, kw):
        if t.requires_grad:
            t.requires_grad_(False)  # a meta copy made by make_inputs; data needs no gradient

    step = trace_step(model, args, kw, optimizer=optimizer, precision=precision, checkpoint=checkpoint,
                      loss_fn=loss)
    graph = step.trace.graph
    layers = []
    fwd_macs = fwd_flops = bwd_macs = bwd_flops = 0
    for node, (bm, bf, known), saved, grad in zip(graph.nodes, step.nodes_backward, step.nodes_saved,
                                                  step.nodes_grad):
        fm = sum(op.macs for op in node.ops)
        fwd_macs += fm
        fwd_flops += sum(op.flops for op in node.ops)
        bwd_macs += bm
        bwd_flops += bf
        if node.kind != "input" or saved:
            layers.append(LayerTrainingCost(node.name, node.type, fm, bm, bf, known, saved, grad, node.call))
    totals = [sum(r) for r in step.timeline]
    peak = max(range(len(totals)), key=totals.__getitem__)
    timeline = tuple(MemoryPoint(i, phase, op, *row)
                     for i, (phase, op, row) in enumerate(zip(step.phases, step.ops, step.timeline)))
    unknown = dict(step.unknown_backward)
    for n in graph.nodes:
        for op in n.ops:
            if not op.known:
                unknown[op.op] = unknown.get(op.op, 0) + 1
    batch = _batch_of(args, kw)
    name = optimizer if isinstance(optimizer, str) else getattr(optimizer, "__name__", type(optimizer).__name__)

    def rerun(b: int) -> TrainingCost:  # the same inputs with batch b (dim 0 of every tensor)
        return training_cost(model, inputs=_rebatch(args, b), kwargs=_rebatch(kw, b), optimizer=optimizer,
                             precision=precision, checkpoint=checkpoint, loss=loss)

    return TrainingCost(
        model=type(model).__name__, batch_size=batch, optimizer=name, precision=precision,
        peak_bytes=totals[peak], breakdown=dict(zip(KINDS, step.timeline[peak])), peak_phase=step.phases[peak],
        peak_op=step.ops[peak], forward_macs=fwd_macs, backward_macs=bwd_macs, forward_flops=fwd_flops,
        backward_flops=bwd_flops, complete=not unknown, unknown_ops=unknown, layers=tuple(layers),
        timeline=timeline, checkpointed=tuple(step.checkpointed), _rerun=rerun,
    )


def _leaves(args: Any, kw: Any) -> list[Any]:
    from .tracing.tracer import _tensors

    return _tensors([args, kw], [])


def _batch_of(args: Any, kw: Any) -> int | None:
    leaves = _leaves(args, kw)
    return int(leaves[0].shape[0]) if leaves and leaves[0].dim() > 0 else None


def _rebatch(x: Any, b: int) -> Any:
    import torch

    if isinstance(x, torch.Tensor):
        return torch.empty((b, *x.shape[1:]), dtype=x.dtype, device="meta") if x.dim() > 0 else x
    if isinstance(x, (list, tuple)):
        return type(x)(_rebatch(v, b) for v in x)
    if isinstance(x, dict):
        return {k: _rebatch(v, b) for k, v in x.items()}
    return x
