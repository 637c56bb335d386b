"""Backward-pass counting rules, registered on the op table's backward slot (``rules/table.py``).

Each rule is registered for a backward key (``@backward_rule("conv")``): the ``backward`` of an op's table
entry, which defaults to its forward ``cost`` key, so one rule covers every op that shares a forward rule,
and an op whose backward differs from ops it shares a forward rule with (``embedding``: free forward like
``copy``, but a scatter-add backward) names its own key in its entry. ``rules.lookup_backward(name)`` is the
one lookup.

A backward rule sees the forward call (``Call``: its tensors carry ``requires_grad``) and the forward cost
(``OpCost``) and says what the op's backward costs. Only the gradients autograd actually computes are
counted: a conv whose input does not require grad (the first layer, fed by data) computes its weight
gradient and not its input gradient.

MAC formulas (each gradient of a bilinear op is one product of the same size as the forward one):
- conv / conv transpose / linear / matmul family / einsum of two operands:
      fwd_macs * (number of the two multiplied operands that require grad)
  (grad_input = conv_transpose(grad_out, w), grad_weight = conv(x, grad_out): each fwd_macs; FlopCounterMode's
  ``conv_backward_flop`` and ``mm`` rules count the same)
- attention (sdpa): dV = A^T dO and dA = dO V^T (L*S*Ev each), dQ = dS K and dK = dS^T Q (L*S*E each),
  each only when needed
- multi-head attention: the projections as linear layers, the attention core as sdpa
- LSTM/GRU/RNN: weight gradients fwd_macs, plus the gradients through the input projection (when the input
  requires grad) and through the recurrent projection (every step but the first, whose hidden state is a constant)
FLOPs: 2 per MAC, plus one add per output element for a bias gradient (``grad_out.sum``). Every other op
with a forward rule: the backward of an elementwise / normalization / pooling op costs about what its forward
costs (one pass over the same elements), so its backward FLOPs are its forward FLOPs when an input requires
grad; views, copies and concatenations cost 0 both ways. An op without a forward rule has no backward rule
either: unknown, never zero.
"""

from __future__ import annotations

from typing import Any

import torch

from ._registry import Call, OpCost, backward_rule, lookup_backward

def _needs(x: Any) -> bool:
    return isinstance(x, torch.Tensor) and x.requires_grad


def _any_output_needs(call: Call) -> bool:
    return any(_needs(t) for t in call.outputs)


def _walk(x: Any, out: list[torch.Tensor]) -> None:
    # a module-level function, not a closure: a recursive closure is a reference cycle that would keep the
    # call's tensors alive until the garbage collector runs (and training_cost measures when tensors die)
    if isinstance(x, torch.Tensor):
        out.append(x)
    elif isinstance(x, (list, tuple)):
        for v in x:
            _walk(v, out)


def _tensor_args(call: Call) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    _walk(list(call.args), out)
    _walk(list(call.kwargs.values()), out)
    return out


def backward_cost(call: Call, forward: OpCost) -> OpCost | None:
    """The backward cost of one forward call, or None when no rule knows the op (unknown, not zero)."""
    if not _any_output_needs(call):
        return OpCost(0, 0)  # nothing upstream requires grad: autograd records no backward for this op
    fn = lookup_backward(call.name)
    if fn is not None:
        return fn(call, forward)
    # default for ops with a forward rule and no MACs: one backward pass over the same elements
    if forward.macs == 0:
        return OpCost(0, forward.flops if any(_needs(t) for t in _tensor_args(call)) else 0)
    return None


def _bias_flops(bias: Any, out: torch.Tensor) -> int:
    # grad_bias = grad_out summed over every dim but the channel: one add per output element
    return out.numel() if _needs(bias) else 0


@backward_rule("conv", "conv_transpose")
def backward_conv(call: Call, fwd: OpCost) -> OpCost:
    x, w, b = call.args[0], call.arg(1, "weight"), call.arg(2, "bias")
    macs = fwd.macs * (int(_needs(x)) + int(_needs(w)))
    return OpCost(macs, 2 * macs + _bias_flops(b, call.out))


@backward_rule("linear")
def backward_linear(call: Call, fwd: OpCost) -> OpCost:
    x, w, b = call.args[0], call.arg(1, "weight"), call.arg(2, "bias")
    macs = fwd.macs * (int(_needs(x)) + int(_needs(w)))
    return OpCost(macs, 2 * macs + _bias_flops(b, call.out))


@backward_rule("bilinear")
def backward_bilinear(call: Call, fwd: OpCost) -> OpCost:
    x1, x2, w, b = call.args[0], call.args[1], call.arg(2, "weight"), call.arg(3, "bias")
    macs = fwd.macs * (int(_needs(x1)) + int(_needs(x2)) + int(_needs(w)))
    return OpCost(macs, 2 * macs + _bias_flops(b, call.out))


@backward_rule("matmul", "vector")
def backward_matmul(call: Call, fwd: OpCost) -> OpCost:
    a, b = call.args[0], call.args[1]
    macs = fwd.macs * (int(_needs(a)) + int(_needs(b)))
    return OpCost(macs, 2 * macs)


@backward_rule("addmm")
def backward_addmm(call: Call, fwd: OpCost) -> OpCost:
    bias, a, b = call.args[0], call.args[1], call.args[2]
    macs = fwd.macs * (int(_needs(a)) + int(_needs(b)))
    return OpCost(macs, 2 * macs + (call.out.numel() if _needs(bias) else 0))


@backward_rule("einsum")
def backward_einsum(call: Call, fwd: OpCost) -> OpCost:
    operands = call.args[1:]
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    if fwd.macs == 0:  # a one-operand einsum (sum, transpose, diagonal): elementwise
        return OpCost(0, fwd.flops)
    # each operand's gradient is an einsum of the others with the output gradient, of the forward's size
    macs = fwd.macs * sum(int(_needs(o)) for o in operands)
    return OpCost(macs, 2 * macs)


def _sdpa_backward(batch: int, L: int, S: int, E: int, Ev: int, nq: bool, nk: bool, nv: bool) -> int:
    macs = 0
    if nv:
        macs += batch * L * S * Ev  # dV = A^T dO
    if nq or nk:
        macs += batch * L * S * Ev  # dA = dO V^T
    if nq:
        macs += batch * L * S * E  # dQ = dS K
    if nk:
        macs += batch * L * S * E  # dK = dS^T Q
    return macs


@backward_rule("sdpa")
def backward_sdpa(call: Call, fwd: OpCost) -> OpCost:
    q, k, v = call.args[0], call.arg(1, "key"), call.arg(2, "value")
    L, E, S, Ev = int(q.shape[-2]), int(q.shape[-1]), int(k.shape[-2]), int(v.shape[-1])
    batch = 1
    for d in q.shape[:-2]:
        batch *= int(d)
    macs = _sdpa_backward(batch, L, S, E, Ev, _needs(q), _needs(k), _needs(v))
    # softmax backward (about 3 per score) and the scale
    return OpCost(macs, 2 * macs + 4 * batch * L * S)


@backward_rule("mha")
def backward_mha(call: Call, fwd: OpCost) -> OpCost:
    q, k, v = call.args[0], call.args[1], call.args[2]
    batched = q.dim() == 3
    L, E = int(q.shape[0]), int(q.shape[-1])
    S, kdim, vdim = int(k.shape[0]), int(k.shape[-1]), int(v.shape[-1])
    N = int(q.shape[1]) if batched else 1
    heads = int(call.arg(4, "num_heads", 1))
    in_w = call.arg(5, "in_proj_weight")
    out_w = call.arg(11, "out_proj_weight")
    separate = [call.kwargs.get(n) for n in ("q_proj_weight", "k_proj_weight", "v_proj_weight")]
    proj_needs = [_needs(in_w) or _needs(s) for s in separate]
    # input projections (L*E*E, S*kdim*E, S*vdim*E): weight grad when the weight needs it, input grad when the input does
    macs = 0
    for x, size, w_needs in ((q, L * E * E, proj_needs[0]), (k, S * kdim * E, proj_needs[1]),
                             (v, S * vdim * E, proj_needs[2])):
        macs += N * size * (int(w_needs) + int(_needs(x)))
    qn, kn, vn = (proj_needs[0] or _needs(q), proj_needs[1] or _needs(k), proj_needs[2] or _needs(v))
    macs += _sdpa_backward(N * heads, L, S, E // heads, E // heads, qn, kn, vn)
    core_needs = qn or kn or vn
    macs += N * L * E * E * (int(_needs(out_w)) + int(core_needs))  # the output projection
    return OpCost(macs, 2 * macs + 4 * N * heads * L * S)


_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


@backward_rule("rnn")
def backward_rnn(call: Call, fwd: OpCost) -> OpCost:
    """Weight gradients cost the forward MACs; data gradients flow through w_ih (unless it is the first
    layer's and the input needs no grad) and through the recurrent matrices at every step but the first
    (the initial hidden state is a constant unless ``hx`` requires grad)."""
    x = call.args[0]
    packed = len(call.args) > 3 and isinstance(call.args[3], (list, tuple))
    if packed:  # (data, batch_sizes, hx, flat_weights, has_biases, num_layers, dropout, train, bidirectional)
        weights, hx, base = call.args[3], call.args[2], 4
        steps, batch = int(x.shape[0]), 1
    else:  # (input, hx, flat_weights, has_biases, num_layers, dropout, train, bidirectional, batch_first)
        weights, hx, base = call.args[2], call.args[1], 3
        batch_first = bool(call.arg(8, "batch_first", False))
        if x.dim() == 3:
            steps, batch = (int(x.shape[1]), int(x.shape[0])) if batch_first else (int(x.shape[0]), int(x.shape[1]))
        else:
            steps, batch = int(x.shape[0]), 1
    layers = int(call.arg(base + 1, "num_layers", 1))
    dirs = 2 if bool(call.arg(base + 4, "bidirectional", False)) else 1
    mats = [w for w in weights if isinstance(w, torch.Tensor) and w.dim() == 2]
    weight_macs = sum(w.numel() for w in mats if _needs(w)) * steps * batch
    hx_needs = any(_needs(h) for h in (hx if isinstance(hx, (list, tuple)) else [hx]))
    per = max(len(mats) // (layers * dirs), 1)  # (w_ih, w_hh[, w_hr]) per layer and direction
    recurrent_steps = steps if (hx_needs or packed) else steps - 1
    data_macs = 0
    for g in range(len(mats) // per):
        group = mats[g * per:(g + 1) * per]
        if g // dirs > 0 or _needs(x):
            data_macs += group[0].numel() * steps * batch
        data_macs += sum(w.numel() for w in group[1:]) * recurrent_steps * batch
    macs = weight_macs + data_macs
    # the gate nonlinearities' backward: about what their forward costs
    return OpCost(macs, 2 * macs + (fwd.flops - 2 * fwd.macs))


@backward_rule("embedding")
def backward_embedding(call: Call, fwd: OpCost) -> OpCost:
    w = call.arg(1, "weight")
    # embedding_dense_backward: the output gradient's rows are added into the weight gradient
    return OpCost(0, call.out.numel() if _needs(w) else 0)


@backward_rule("embedding_bag")
def backward_embedding_bag(call: Call, fwd: OpCost) -> OpCost:
    return OpCost(0, fwd.flops if _needs(call.arg(1, "weight")) else 0)
