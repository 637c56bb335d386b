"""The counting rules. Each is a pure function of the call's shapes and arguments.

MAC formulas (torchvision / fvcore convention, bias not counted as a MAC):
- conv:            out_elements * (C_in / groups) * prod(kernel)
- conv transpose:  in_elements * (C_out / groups) * prod(kernel)
- linear:          out_elements * in_features
- matmul family:   out_elements * contracted_dim
- attention:       batch * L * S * (E + E_v)      (Q K^T and A V)
"""

from __future__ import annotations

import math
import string
from typing import Any, Sequence

import torch

from ..geometry import WindowAxis, same_padding
from ._registry import Call, OpCost, cost


def _prod(xs: Sequence[int]) -> int:
    return math.prod(int(x) for x in xs)


def _ntuple(v: Any, n: int) -> tuple[int, ...]:
    if isinstance(v, (list, tuple, torch.Size)):
        v = tuple(int(x) for x in v)
        return v * n if len(v) == 1 else v
    return (int(v),) * n


def _numel(t: Any) -> int:
    return t.numel() if isinstance(t, torch.Tensor) else 0


def _out_numel(call: Call) -> int:
    return sum(_numel(t) for t in call.outputs)


def _is_tensor(x: Any) -> bool:
    return isinstance(x, torch.Tensor)


# --------------------------------------------------------------------------------------------- conv
def _conv_padding(padding: Any, kernel: tuple[int, ...], dilation: tuple[int, ...]) -> list[tuple[int, int]]:
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * n
        # 'same' (stride 1): total d(k-1), the odd pixel on the right (torch's convention)
        return [same_padding(k, d) for k, d in zip(kernel, dilation)]
    return [(p, p) for p in _ntuple(padding, n)]


@cost("conv")
def macs_conv(call: Call) -> OpCost:
    x, w = call.args[0], call.get("weight")
    bias = call.get("bias")
    n = w.dim() - 2
    kernel = tuple(int(k) for k in w.shape[2:])
    stride, padding = _ntuple(call.get("stride", 1), n), call.get("padding", 0)
    dilation, groups = _ntuple(call.get("dilation", 1), n), int(call.get("groups", 1) or 1)
    if call.get("transposed", False):  # torch.convolution(..., transposed=True)
        out_pad = _ntuple(call.get("output_padding", 0), n)
        return _conv_transpose_cost(call, x, w, bias, stride, padding, out_pad, groups, dilation)
    out = call.out
    # MACs = out_elements * (C_in/groups) * prod(k); the weight's dim 1 is already C_in/groups
    macs = out.numel() * int(w.shape[1]) * _prod(kernel)
    flops = 2 * macs + (out.numel() if bias is not None else 0)
    pads = _conv_padding(padding, kernel, dilation)
    spatial_in = x.shape[-n:]
    windows = tuple(
        WindowAxis(int(s), k, st, p, d) for s, k, st, p, d in zip(spatial_in, kernel, stride, pads, dilation)
    )
    return OpCost(macs, flops, windows, "window", {"groups": groups})


def _conv_transpose_cost(call, x, w, bias, stride, padding, out_pad, groups, dilation) -> OpCost:
    n = w.dim() - 2
    kernel = tuple(int(k) for k in w.shape[2:])
    # MACs = in_elements * (C_out/groups) * prod(k); the weight is (C_in, C_out/groups, *k)
    macs = x.numel() * int(w.shape[1]) * _prod(kernel)
    out = call.out
    flops = 2 * macs + (out.numel() if bias is not None else 0)
    pads = [(p, p) for p in _ntuple(padding, n)]
    windows = tuple(
        WindowAxis(int(s), k, st, p, d, transposed=True, output_padding=op)
        for s, k, st, p, d, op in zip(x.shape[-n:], kernel, stride, pads, dilation, out_pad)
    )
    return OpCost(macs, flops, windows, "window", {"groups": groups})


@cost("conv_transpose")
def macs_conv_transpose(call: Call) -> OpCost:
    x, w = call.args[0], call.get("weight")
    n = w.dim() - 2
    return _conv_transpose_cost(
        call, x, w, call.get("bias"), _ntuple(call.get("stride", 1), n), call.get("padding", 0),
        _ntuple(call.get("output_padding", 0), n), int(call.get("groups", 1)), _ntuple(call.get("dilation", 1), n),
    )


# ----------------------------------------------------------------------------------- linear / matmul
@cost("linear")
def macs_linear(call: Call) -> OpCost:
    w, bias = call.get("weight"), call.get("bias")
    out = call.out
    # MACs = out_elements * in_features
    macs = out.numel() * int(w.shape[-1])
    return OpCost(macs, 2 * macs + (out.numel() if bias is not None else 0), spatial="channel")


@cost("bilinear")
def macs_bilinear(call: Call) -> OpCost:
    w, bias = call.get("weight"), call.get("bias")
    out = call.out
    macs = out.numel() * int(w.shape[1]) * int(w.shape[2])
    return OpCost(macs, 2 * macs + (out.numel() if bias is not None else 0), spatial="channel")


@cost("matmul")
def macs_matmul(call: Call) -> OpCost:
    a = call.args[0]
    out = call.out
    k = int(a.shape[-1])
    macs = max(out.numel(), 1) * k
    return OpCost(macs, 2 * macs, spatial="global")


@cost("addmm")
def macs_addmm(call: Call) -> OpCost:
    a, b = call.args[1], call.args[2]
    out = call.out
    if call.name == "addbmm":  # sum over the batch of a @ b
        macs = int(a.shape[0]) * int(a.shape[1]) * int(a.shape[2]) * int(b.shape[-1])
    elif call.name == "addr":
        macs = out.numel()
    else:
        macs = out.numel() * int(a.shape[-1])
    return OpCost(macs, 2 * macs + out.numel(), spatial="global")


@cost("vector")
def macs_vector(call: Call) -> OpCost:
    a = call.args[0]
    out = call.out
    macs = out.numel() if call.name in ("outer", "ger") else max(out.numel(), 1) * int(a.shape[-1])
    return OpCost(macs, 2 * macs, spatial="global")


def _einsum_macs(equation: str, operands: Sequence[torch.Tensor]) -> int:
    equation = equation.replace(" ", "")
    lhs, _, rhs = equation.partition("->")
    terms = lhs.split(",")
    free = iter(c for c in string.ascii_letters if c not in equation)
    ell: list[str] = []
    sizes: dict[str, int] = {}
    expanded = []
    for term, op in zip(terms, operands):
        if "..." in term:
            n_ell = op.dim() - (len(term) - 3)
            while len(ell) < n_ell:
                ell.append(next(free))
            term = term.replace("...", "".join(ell[len(ell) - n_ell:]))
        for c, s in zip(term, op.shape):
            sizes[c] = max(sizes.get(c, 1), int(s))
        expanded.append(term)
    if not rhs and "->" not in equation:  # implicit output: letters seen once, sorted
        rhs = "".join(sorted(c for c in sizes if lhs.count(c) == 1))
    rhs = rhs.replace("...", "".join(ell))
    if len(expanded) == 1:
        return 0
    # contract left to right; each pairwise step costs the product of all letters involved
    macs, current = 0, expanded[0]
    for i, term in enumerate(expanded[1:], start=1):
        involved = set(current) | set(term)
        macs += _prod([sizes[c] for c in involved])
        later = set(rhs).union(*[set(t) for t in expanded[i + 1:]]) if i + 1 < len(expanded) else set(rhs)
        current = "".join(c for c in sorted(involved) if c in later)
    return macs


@cost("einsum")
def macs_einsum(call: Call) -> OpCost:
    equation = call.args[0]
    operands = call.args[1:]
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    macs = _einsum_macs(equation, operands)
    flops = 2 * macs if macs else sum(_numel(o) for o in operands)
    return OpCost(macs, flops, spatial="global", attrs={"equation": equation})


@cost("sdpa")
def macs_sdpa(call: Call) -> OpCost:
    q, k, v = call.args[0], call.get("key"), call.get("value")
    L, E, S, Ev = int(q.shape[-2]), int(q.shape[-1]), int(k.shape[-2]), int(v.shape[-1])
    batch = _prod(q.shape[:-2])
    # Q K^T: batch*L*S*E; softmax(.) V: batch*L*S*Ev  (causal masks are counted in full, as FlopCounterMode does)
    macs = batch * L * S * (E + Ev)
    flops = 2 * macs + 4 * batch * L * S  # + scale (1) and softmax (3) per score
    return OpCost(macs, flops, spatial="global", attrs={"is_causal": bool(call.get("is_causal", False))})


@cost("mha")
def macs_mha(call: Call) -> OpCost:
    q, k = call.args[0], call.args[1]
    batched = q.dim() == 3
    L, E = int(q.shape[0]), int(q.shape[-1])
    S, kdim = int(k.shape[0]), int(k.shape[-1])
    v = call.args[2]
    vdim = int(v.shape[-1])
    N = int(q.shape[1]) if batched else 1
    # projections of q, k, v; Q K^T and A V across all heads (E total); the output projection
    macs = N * (L * E * E + S * kdim * E + S * vdim * E + 2 * L * S * E + L * E * E)
    heads = int(call.get("num_heads", 1))
    flops = 2 * macs + 4 * N * heads * L * S + 4 * N * L * E  # scores: scale+softmax; biases
    return OpCost(macs, flops, spatial="global", attrs={"num_heads": heads})


# --------------------------------------------------------------------------------------- elementwise


@cost("elementwise")
def flops_elementwise(call: Call) -> OpCost:
    # 1 FLOP per output element
    return OpCost(0, _out_numel(call), spatial="pointwise")


@cost("softmax")
def flops_softmax(call: Call) -> OpCost:
    # exp, sum, divide: 3 FLOPs per element
    return OpCost(0, 3 * _out_numel(call), spatial="reduce", attrs={"dim": call.get("dim")})


# ---------------------------------------------------------------------------------------------- norms
@cost("batch_norm")
def flops_batch_norm(call: Call) -> OpCost:
    training = bool(call.get("training", False))
    n = call.out.numel()
    affine = call.get("weight") is not None
    # eval: folded into one scale and shift (2/element); training: mean, var, normalize (4) + affine (2)
    flops = (4 + (2 if affine else 0)) * n if training else 2 * n
    return OpCost(0, flops, spatial="pointwise", attrs={"training": training})


@cost("norm")
def flops_norm(call: Call) -> OpCost:
    affine = call.get("weight") is not None
    n = call.out.numel()
    spatial = "pointwise" if call.name == "layer_norm" else "reduce"
    return OpCost(0, (4 + (2 if affine else 0)) * n, spatial=spatial)


@cost("lrn")
def flops_lrn(call: Call) -> OpCost:
    size = int(call.get("size", 1))
    return OpCost(0, (size + 3) * call.out.numel(), spatial="pointwise")


@cost("normalize")
def flops_normalize(call: Call) -> OpCost:
    return OpCost(0, 3 * call.out.numel(), spatial="pointwise", attrs={"dim": call.get("dim", 1)})


# -------------------------------------------------------------------------------------------- pooling
def _pool_windows(x: torch.Tensor, n: int, kernel, stride, padding, dilation, ceil_mode) -> tuple[WindowAxis, ...]:
    k = _ntuple(kernel, n)
    s = _ntuple(stride if stride not in (None, [], ()) else k, n)
    p = _ntuple(padding, n)
    d = _ntuple(dilation, n)
    return tuple(
        WindowAxis(int(size), kk, ss, (pp, pp), dd, bool(ceil_mode))
        for size, kk, ss, pp, dd in zip(x.shape[-n:], k, s, p, d)
    )


@cost("max_pool")
def flops_max_pool(call: Call) -> OpCost:
    n = int(call.name[8])
    x = call.args[0]
    windows = _pool_windows(x, n, call.get("kernel_size"), call.get("stride"), call.get("padding", 0),
                            call.get("dilation", 1), call.get("ceil_mode", False))
    # one comparison per kernel element per output element
    return OpCost(0, call.out.numel() * _prod([w.kernel for w in windows]), windows, "window")


@cost("avg_pool")
def flops_avg_pool(call: Call) -> OpCost:
    n = int(call.name[8])
    x = call.args[0]
    windows = _pool_windows(x, n, call.get("kernel_size"), call.get("stride"), call.get("padding", 0),
                            1, call.get("ceil_mode", False))
    return OpCost(0, call.out.numel() * _prod([w.kernel for w in windows]), windows, "window")


@cost("lp_pool")
def flops_lp_pool(call: Call) -> OpCost:
    n = int(call.name[7])
    x = call.args[0]
    windows = _pool_windows(x, n, call.get("kernel_size"), call.get("stride"), 0, 1,
                            call.get("ceil_mode", False))
    return OpCost(0, call.out.numel() * (2 * _prod([w.kernel for w in windows]) + 1), windows, "window")


@cost("adaptive_pool")
def flops_adaptive_pool(call: Call) -> OpCost:
    n = int(call.name.split("pool")[1][0])
    x, out = call.args[0], call.out
    size_in = tuple(int(s) for s in x.shape[-n:])
    size_out = tuple(int(s) for s in out.shape[-n:])
    attrs = {"output_size": list(size_out)}
    if all(o == 1 for o in size_out):
        return OpCost(0, x.numel(), spatial="global", attrs=attrs)
    if all(i % o == 0 for i, o in zip(size_in, size_out)):
        # evenly divisible: exactly a pool with kernel = stride = in/out
        windows = tuple(WindowAxis(i, i // o, i // o) for i, o in zip(size_in, size_out))
        return OpCost(0, x.numel(), windows, "window", attrs)
    return OpCost(0, x.numel(), spatial="adaptive", attrs=attrs)


# ------------------------------------------------------------------------------------------ reductions
@cost("reduce")
def flops_reduce(call: Call) -> OpCost:
    x = call.args[0]
    if call.name in ("max", "min") and len(call.args) > 1 and _is_tensor(call.args[1]):
        return OpCost(0, _out_numel(call), spatial="pointwise")  # binary elementwise max/min
    dim = call.get("dim")
    if call.name in ("norm",) and "dim" not in call.kwargs:
        dim = call.arg(2, "dim")
    if isinstance(dim, torch.Size):
        dim = list(dim)
    return OpCost(0, _numel(x), spatial="reduce", attrs={"dim": dim if not _is_tensor(dim) else None})


# ------------------------------------------------------------------------------------- interpolation
@cost("interpolate")
def flops_interpolate(call: Call) -> OpCost:
    x, out = call.args[0], call.out
    mode = call.get("mode", "nearest") if call.name in ("interpolate", "upsample") else (
        "bilinear" if call.name == "upsample_bilinear" else "nearest")
    n = x.dim() - 2
    scale = [int(o) / int(i) for i, o in zip(x.shape[-n:], out.shape[-n:])]
    if mode in ("linear", "bilinear", "trilinear"):
        flops = out.numel() * 2 * 2**n  # a multiply-add per neighbour
    elif mode == "bicubic":
        flops = out.numel() * 2 * 4**n
    elif mode == "area":
        flops = x.numel() + out.numel()
    else:
        flops = 0  # nearest: a copy
    align = bool(call.get("align_corners", False)) if call.name == "interpolate" else False
    return OpCost(0, flops, spatial="resize", attrs={"mode": mode, "scale": scale, "align_corners": align})


@cost("pixel_shuffle")
def flops_pixel_shuffle(call: Call) -> OpCost:
    r = int(call.get("upscale_factor"))
    return OpCost(0, 0, spatial="resize", attrs={"scale": [float(r)] * 2})


@cost("pixel_unshuffle")
def flops_pixel_unshuffle(call: Call) -> OpCost:
    r = int(call.get("downscale_factor"))
    x = call.args[0]
    windows = tuple(WindowAxis(int(s), r, r) for s in x.shape[-2:])
    return OpCost(0, 0, windows, "window")


@cost("pad")
def flops_pad(call: Call) -> OpCost:
    pad = [int(p) for p in call.get("pad")]
    x = call.args[0]
    # F.pad lists (left, right) pairs from the last dim backwards
    axes = []
    n = len(pad) // 2
    for i in range(n):
        dim = x.dim() - 1 - i
        axes.append((dim, pad[2 * i], pad[2 * i + 1]))
    axes.sort()
    windows = tuple(WindowAxis(int(x.shape[d]), 1, 1, (l, r)) for d, l, r in axes)
    return OpCost(0, 0, windows, "window", {"pad": pad, "mode": call.get("mode", "constant")})


# ------------------------------------------------------------------------- layout: no arithmetic at all


@cost("view")
def flops_view(call: Call) -> OpCost:
    # the permutation of dims, for layout ops whose mapping the shapes alone cannot tell (receptive field)
    return OpCost(0, 0, spatial="reshape", attrs=_layout_attrs(call))


def _layout_attrs(call: Call) -> dict[str, Any]:
    x = call.args[0] if call.args else None
    if not _is_tensor(x):
        return {}
    n = x.dim()
    try:
        if call.name == "permute":
            dims = call.args[1:] if len(call.args) > 2 else call.get("dims")
            if isinstance(dims, int):
                dims = [dims]
            return {"perm": [int(d) % n for d in dims]}
        if call.name in ("transpose", "movedim"):
            a, b = (call.get("dim0"), call.get("dim1")) if call.name == "transpose" else \
                (call.get("source"), call.get("destination"))
            if call.name == "transpose":
                perm = list(range(n))
                a, b = int(a) % n, int(b) % n
                perm[a], perm[b] = perm[b], perm[a]
                return {"perm": perm}
            src = [int(a) % n] if isinstance(a, int) else [int(v) % n for v in a]
            dst = [int(b) % n] if isinstance(b, int) else [int(v) % n for v in b]
            rest = [d for d in range(n) if d not in src]
            perm = [-1] * n
            for s_, d_ in zip(src, dst):
                perm[d_] = s_
            it = iter(rest)
            return {"perm": [p if p >= 0 else next(it) for p in perm]}
        if call.name in ("t", "T", "mT", "H", "mH", "adjoint") and n >= 2:
            perm = list(range(n))
            if call.name in ("t", "T") and n != 2:
                return {"perm": perm[::-1]} if call.name == "T" else {}
            perm[-1], perm[-2] = perm[-2], perm[-1]
            return {"perm": perm}
    except (TypeError, ValueError, IndexError):
        return {}
    return {}


@cost("copy")
def flops_copy(call: Call) -> OpCost:
    return OpCost(0, 0, spatial="pointwise")


@cost("slice")
def flops_slice(call: Call) -> OpCost:
    # where the slice starts and its step per dim, so the receptive field can shift its centre
    return OpCost(0, 0, spatial="slice", attrs=_slice_attrs(call))


def _slice_attrs(call: Call) -> dict[str, Any]:
    x = call.args[0] if call.args else None
    if not _is_tensor(x):
        return {}
    try:
        if call.name == "getitem":
            index = call.args[1] if len(call.args) > 1 else None
            items = index if isinstance(index, tuple) else (index,)
            out: list[Any] = []
            for it in items:
                if it is None:
                    out.append(["none"])
                elif it is Ellipsis:
                    out.append(["ellipsis"])
                elif isinstance(it, bool) or _is_tensor(it) or isinstance(it, (list, tuple)):
                    return {}
                elif isinstance(it, int):
                    out.append(["int", int(it)])
                elif isinstance(it, slice):
                    out.append(["slice", it.start, it.stop, it.step])
                else:
                    return {}
            return {"index": out}
        if call.name in ("narrow", "select"):
            return {"dim": int(call.get("dim")) % x.dim(),
                    "start": int(call.get("start" if call.name == "narrow" else "index"))}
        if call.name in ("split", "split_with_sizes", "chunk", "unbind", "tensor_split"):
            return {"dim": int(call.get("dim", 0)) % x.dim()}
    except (TypeError, ValueError):
        return {}
    return {}


@cost("concat")
def flops_concat(call: Call) -> OpCost:
    dim = call.get("dim", 0)
    return OpCost(0, 0, spatial="concat", attrs={"dim": dim})


# tensors made from nothing traced (inside a module forward, e.g. an RNN's zero initial state)


@cost("factory")
def flops_factory(call: Call) -> OpCost:
    return OpCost(0, 0, spatial="unknown")




@cost("rnn")
def macs_rnn(call: Call) -> OpCost:
    """``_VF.lstm/gru/rnn_*(input, hx, flat_weights, has_biases, num_layers, dropout, train, bidirectional,
    batch_first)``: every weight matrix (w_ih, w_hh, w_hr) is applied once per time step per sequence."""
    x = call.args[0]
    if len(call.args) > 3 and isinstance(call.args[3], (list, tuple)):
        # packed sequence: (data, batch_sizes, hx, flat_weights, ...); data rows = all time steps of all sequences
        weights, steps, batch = call.args[3], int(x.shape[0]), 1
    else:
        weights = call.args[2]
        batch_first = bool(call.get("batch_first", False))
        if x.dim() == 3:
            steps, batch = (int(x.shape[1]), int(x.shape[0])) if batch_first else (int(x.shape[0]), int(x.shape[1]))
        else:
            steps, batch = int(x.shape[0]), 1
    macs = sum(w.numel() for w in weights if isinstance(w, torch.Tensor) and w.dim() == 2) * steps * batch
    # gate nonlinearities and the cell update: about 3 FLOPs per gate unit per step
    gate_units = sum(int(w.shape[0]) for w in weights[::2] if isinstance(w, torch.Tensor) and w.dim() == 2)
    return OpCost(macs, 2 * macs + 3 * gate_units * steps * batch, spatial="global")


@cost("embedding_bag")
def flops_embedding_bag(call: Call) -> OpCost:
    # one add per looked-up row element
    return OpCost(0, call.args[0].numel() * int(call.out.shape[-1]), spatial="channel")
