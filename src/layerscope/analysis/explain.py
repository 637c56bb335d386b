"""Explain a failed op from the graph: which layer made each operand, why the shapes disagree, what to change.

:func:`explain_failure` turns one tracer ``Failure`` (op, innermost module, source line, operands with their
producer node ids, PyTorch's message) into a :class:`~layerscope.diagnostics.Diagnostic` with a stable
code (LS101-LS108), or returns None when the failure is not a shape bug it recognises (the caller then
reports a generic LS100). Pure functions of the graph: no torch here.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Sequence

from ..diagnostics import Diagnostic, make
from ..geometry import WindowAxis, output_size
from ..graph import Graph, Node, TensorInfo
from ..rules.table import has_fact, in_family
from .value_hints import value_read_hint

_AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
# how far the valid-input-size search looks around the current size
_SEARCH_LIMIT = 4096


# ----------------------------------------------------------------------------------------- graph helpers
def producer_name(graph: Graph, t: TensorInfo) -> str:
    """The layer that produced ``t``, or ``a constant`` (a parameter, a buffer, a literal)."""
    if t.producer is None or t.producer >= len(graph):
        return "a constant"
    node = graph[t.producer]
    return f"the input '{node.name}'" if node.kind == "input" else node.name


def describe(graph: Graph, t: TensorInfo) -> str:
    """``(1, 64, 28, 28) from layer1.0.conv2``."""
    return f"{tuple(t.shape)} from {producer_name(graph, t)}"


def ancestors(graph: Graph, node_id: int) -> set[int]:
    """``node_id`` and every node it depends on through tensor inputs."""
    seen = {node_id}
    stack = [node_id]
    while stack:
        for t in graph[stack.pop()].inputs:
            p = t.producer
            if p is not None and p < len(graph) and p not in seen:
                seen.add(p)
                stack.append(p)
    return seen


def _main_input(node: Node) -> TensorInfo | None:
    for t in node.inputs:
        if t.producer is not None:
            return t
    return None


def first_input_path(graph: Graph, node_id: int) -> list[Node]:
    """Nodes from a model input to ``node_id`` following each node's first traced input (execution order)."""
    path: list[Node] = []
    current: int | None = node_id
    seen: set[int] = set()
    while current is not None and current not in seen and current < len(graph):
        seen.add(current)
        node = graph[current]
        path.append(node)
        t = _main_input(node)
        current = t.producer if t is not None else None
    return path[::-1]


def _layer_kind(node: Node) -> str:
    return f"{node.name} ({node.type})" if node.kind == "module" and node.type != node.name else node.name


def _where(failure: Any) -> str:
    if failure.module:
        kind = f" ({failure.module_type})" if failure.module_type else ""
        return f"in {failure.module}{kind}"
    return "in the model's forward"


def _factor(total: int, parts: Sequence[int]) -> str:
    return f"{total} = " + "*".join(str(p) for p in parts)


def _window_ops(node: Node) -> list[tuple[WindowAxis, ...]]:
    return [o.windows for o in node.ops if o.windows is not None and o.spatial == "window"]


# ------------------------------------------------------------------------------ size chains from the input
SizeStep = Callable[[int], int | None]


def size_chain(graph: Graph, node_id: int, axis: int) -> tuple[Node, list[tuple[Node, SizeStep]]] | None:
    """How the size of spatial ``axis`` (negative index) of ``node_id``'s output follows from the model
    input's: the input node and the steps that change it, or None when a step is not a function of the size
    (adaptive pooling to a fixed size, an unknown resize)."""
    path = first_input_path(graph, node_id)
    if not path or path[0].kind != "input":
        return None
    steps: list[tuple[Node, SizeStep]] = []
    for node in path[1:]:
        t_in = _main_input(node)
        if t_in is None or not node.outputs:
            return None
        if len(t_in.shape) < -axis or len(node.outputs[0].shape) < -axis:
            return None
        size_in, size_out = t_in.shape[axis], node.outputs[0].shape[axis]
        windows = [w for w in _window_ops(node) if len(w) >= -axis]
        if windows:
            axes = [w[axis] for w in windows]

            def step(s: int, axes: list[WindowAxis] = axes) -> int | None:
                for w in axes:
                    if s <= 0:
                        return None
                    s = output_size(s, w.kernel, w.stride, w.padding, w.dilation, w.ceil_mode, w.transposed,
                                    w.output_padding)
                return s if s > 0 else None

            steps.append((node, step))
            continue
        if size_in == size_out and len(t_in.shape) == len(node.outputs[0].shape):
            continue  # pointwise, norms, activations, the concat's first operand...
        scale = None
        for o in node.ops:
            if o.spatial == "resize" and o.attrs.get("scale"):
                sc = o.attrs["scale"]
                scale = sc[axis] if isinstance(sc, (list, tuple)) and len(sc) >= -axis else sc
        if isinstance(scale, (int, float)) and scale > 0:
            steps.append((node, lambda s, f=float(scale): int(math.floor(s * f))))
            continue
        return None
    return path[0], steps


def run_chain(steps: list[tuple[Node, SizeStep]], size: int) -> int | None:
    for _, step in steps:
        got = step(size)
        if got is None:
            return None
        size = got
    return size


def chain_text(steps: list[tuple[Node, SizeStep]], size: int) -> str:
    """``128 -> 64 (features.1) -> 32 (features.3)``: only the steps that change the size."""
    parts = [str(size)]
    for node, step in steps:
        new = step(size)
        if new is None:
            break
        if new != size:
            parts.append(f"{new} ({node.name})")
        size = new
    return " -> ".join(parts)


def input_sizes_for(steps: list[tuple[Node, SizeStep]], target: Callable[[int], bool], current: int,
                    limit: int = _SEARCH_LIMIT) -> list[int]:
    """Input sizes (searched outward from ``current``) whose chain output satisfies ``target``: a short list
    of the nearest smaller and larger fits."""
    below = next((s for s in range(current - 1, 0, -1) if _fits(steps, s, target)), None)
    above = next((s for s in range(current + 1, max(limit, 2 * current)) if _fits(steps, s, target)), None)
    return [s for s in (below, above) if s is not None]


def _fits(steps: list[tuple[Node, SizeStep]], s: int, target: Callable[[int], bool]) -> bool:
    out = run_chain(steps, s)
    return out is not None and target(out)


def size_range(steps: list[tuple[Node, SizeStep]], s: int, want: int) -> tuple[int, int]:
    """The contiguous run of input sizes around ``s`` that also give ``want`` (floor makes it a range)."""
    lo = hi = s
    while lo > 1 and run_chain(steps, lo - 1) == want:
        lo -= 1
    while hi < s + _SEARCH_LIMIT and run_chain(steps, hi + 1) == want:
        hi += 1
    return lo, hi


def _input_hint(graph: Graph, node_id: int, axes: Sequence[int], want: Sequence[int]) -> tuple[str, str, dict]:
    """(trace text, input-size suggestion, data) for making ``node_id``'s spatial ``axes`` equal ``want``."""
    traces, suggestions, data = [], [], {}
    for axis, w in zip(axes, want):
        got = size_chain(graph, node_id, axis)
        if got is None:
            return "", "", {}
        inp, steps = got
        current = inp.outputs[0].shape[axis]
        traces.append(chain_text(steps, current))
        fits = input_sizes_for(steps, lambda out, w=w: out == w, current)
        if not fits:
            return " ; ".join(traces), "", {}
        lo, hi = size_range(steps, min(fits, key=lambda s: abs(s - current)), w)
        suggestions.append((lo, hi))
        data.setdefault("valid_input_sizes", []).append([lo, hi])
    uniq = list(dict.fromkeys(suggestions))
    trace = traces[0] if len(set(traces)) == 1 else " ; ".join(traces)
    text = " and ".join(f"{lo}" if lo == hi else f"{lo}..{hi}" for lo, hi in uniq)
    return trace, text, data


# ------------------------------------------------------------------------------------------- explainers
def explain_failure(graph: Graph, failure: Any) -> Diagnostic | None:
    """A specific diagnostic for a known shape bug, or None (the caller reports a generic LS100).

    >>> explain_failure(Graph(()), type("F", (), {"op": "forward", "operands": [], "message": ""})()) is None
    True
    """
    op = getattr(failure, "op", "")
    if has_fact(op, "needs_values") or _is_data_dependent(failure):
        return explain_data_dependent(graph, failure)
    if has_fact(op, "batch_statistics"):
        single = explain_single_value(graph, failure)
        if single is not None:
            return single
    if _is_dtype_mismatch(failure):
        return explain_dtype(graph, failure)
    if in_family(op, "elementwise_binary"):
        return explain_broadcast(graph, failure)
    if in_family(op, "linear"):
        return explain_linear(graph, failure)
    if in_family(op, "concat") or has_fact(op, "new_dim"):
        return explain_cat(graph, failure)
    if in_family(op, "conv", "convolution", "conv_transpose"):
        return explain_conv(graph, failure)
    if in_family(op, "matmul"):
        return explain_matmul(graph, failure)
    if in_family(op, "reshape"):
        return explain_reshape(graph, failure)
    if getattr(failure, "exception", "") == "NotImplementedError" and "meta" in (failure.message or "").lower():
        return _diag("LS100", failure, f"{op} {_where(failure)} has no meta-tensor implementation in this "
                     f"PyTorch, so layerscope cannot trace past it: {failure.message.splitlines()[0]}",
                     "register a fake/meta kernel for the op (torch.library.register_fake), or analyze the "
                     "model up to that layer (the table shows every layer before it)")
    if in_family(op, "assertion") or getattr(failure, "exception", "") == "AssertionError":
        first = (failure.message or "assertion failed").splitlines()[0]
        return _diag("LS100", failure, f"the model's own shape check {_where(failure)} failed: {first}",
                     "the model asserts on its input; use the input size it expects (see the message)")
    return None


_DTYPE_MESSAGES = ("same dtype", "expected scalar type", "should be the same", "mixed dtype")


def _is_dtype_mismatch(failure: Any) -> bool:
    msg = failure.message or ""
    return any(m in msg for m in _DTYPE_MESSAGES) and ("dtype" in msg or "type" in msg)


def explain_dtype(graph: Graph, failure: Any) -> Diagnostic:
    """LS100: a weight op got operands of different floating dtypes (as eager PyTorch refuses it)."""
    names = getattr(failure, "extra", {}).get("operand_names") or []
    parts = []
    for i, t in enumerate(failure.operands):
        name = names[i] if i < len(names) else None
        origin = f"parameter {name}" if name else producer_name(graph, t)
        parts.append(f"{tuple(t.shape)} {t.dtype} from {origin}")
    return _diag(
        "LS100", failure,
        f"{failure.op} {_where(failure)} mixes dtypes ({'; '.join(parts)}): PyTorch refuses this outside "
        f"torch.autocast ({failure.message.splitlines()[0]})",
        "give the input the layer's dtype (dtype=torch.float16 / inputs= of that dtype), or convert the "
        "model to one dtype (model.float())",
    )


def explain_single_value(graph: Graph, failure: Any) -> Diagnostic | None:
    """LS109: a batch-statistics norm in training gets one value per channel (batch times map size is 1)."""
    if not failure.operands or _attrs(failure).get("training") is False:
        return None
    x = failure.operands[0]
    shape = tuple(x.shape)
    if len(shape) < 2 or math.prod(shape[:1] + shape[2:]) != 1:
        return None
    fixes = ["train with batch size 2 or more (batch_size=2, --batch-size 2)"]
    spatial = ""
    if len(shape) > 2 and x.producer is not None:
        spatial = f" and a {'x'.join(map(str, shape[2:]))} map"
        axis = 2 - len(shape)  # the first spatial axis, as a negative index
        got = size_chain(graph, x.producer, axis)
        if got is not None:
            inp, steps = got
            current = inp.outputs[0].shape[axis]
            bigger = [s for s in input_sizes_for(steps, lambda out: out >= 2, current) if s > current]
            if bigger:
                fixes.append(f"an input of at least {min(bigger)} (the map here is then 2 or more: "
                             f"{chain_text(steps, min(bigger))})")
    return _diag(
        "LS109", failure,
        f"{failure.op} {_where(failure)} normalizes with the batch's statistics (training mode) but gets "
        f"{describe(graph, x)}: batch {shape[0]}{spatial} is one value per channel, which has no variance",
        "; or ".join(fixes) + "; in eval mode (mode='eval', the default of analyze) the running statistics "
        "are used instead",
        values_per_channel=1)


def _is_data_dependent(failure: Any) -> bool:
    msg = (failure.message or "").lower()
    return "meta tensor" in msg and ("item()" in msg or "no data" in msg or "data-dependent" in msg)


def _attrs(failure: Any) -> dict[str, Any]:
    """The failed call's plain arguments by name (recorded by the tracer), ``{}`` when not recorded."""
    return getattr(failure, "attrs", None) or {}


def _diag(code: str, failure: Any, message: str, hint: str, **data: Any) -> Diagnostic:
    subst = getattr(failure, "extra", {}).get("substitute")
    if subst is not None:
        data["substitute"] = list(subst)
        message += f" [tracing continued with an assumed output {tuple(subst)}]"
    return make(code, message, hint=hint, module=failure.module or None, source=failure.source,
                node=failure.node_count if subst is not None else None,
                op=failure.op, operands=[list(t.shape) for t in failure.operands],
                producers=[t.producer for t in failure.operands], torch_message=failure.message, **data)


def explain_data_dependent(graph: Graph, failure: Any) -> Diagnostic:
    """LS108: the forward reads tensor values, which a meta trace does not have."""
    what = f"{failure.op}(tensor)" if has_fact(failure.op, "scalar_conversion") else f"{failure.op}()"
    operand = f" on {describe(graph, failure.operands[0])}" if failure.operands else ""
    return _diag(
        "LS108", failure,
        f"{what} {_where(failure)}{operand} needs the tensor's values, but layerscope traces shapes only "
        f"(meta tensors have no data); the trace stops here",
        value_read_hint(failure),
    )


def _traced(failure: Any) -> list[TensorInfo]:
    return [t for t in failure.operands if t.producer is not None]


def explain_broadcast(graph: Graph, failure: Any) -> Diagnostic | None:
    """LS101 for a residual merge whose branches disagree, LS107 for any other broadcast failure."""
    ops = list(failure.operands)
    if len(ops) < 2:
        return None
    a, b = ops[0], ops[1]
    diffs = _broadcast_conflicts(a.shape, b.shape)
    if a.producer is not None and b.producer is not None and len(a.shape) >= 4 and len(b.shape) >= 4:
        residual = explain_residual(graph, failure, a, b)
        if residual is not None:
            return residual
    dims = ", ".join(f"dim {d}: {x} vs {y}" for d, x, y in diffs)
    return _diag(
        "LS107", failure,
        f"{failure.op} {_where(failure)}: operands {describe(graph, a)} and {describe(graph, b)} cannot "
        f"broadcast ({dims})",
        "make the sizes equal, or 1 where broadcasting is intended (e.g. x.unsqueeze(-1))",
        conflicts=[list(d) for d in diffs],
    )


def _broadcast_conflicts(s1: Sequence[int], s2: Sequence[int]) -> list[tuple[int, int, int]]:
    n = max(len(s1), len(s2))
    p1, p2 = (1,) * (n - len(s1)) + tuple(s1), (1,) * (n - len(s2)) + tuple(s2)
    return [(d, x, y) for d, (x, y) in enumerate(zip(p1, p2)) if x != y and x != 1 and y != 1]


def _changes(graph: Graph, branch: list[int]) -> tuple[list[str], list[str], list[Node]]:
    """Stride and channel changes along a branch: ``conv1 (stride 2: 32x32 -> 16x16)``, ``conv1 (64 -> 128)``."""
    strides, channels, changed = [], [], []
    for nid in branch:
        node = graph[nid]
        t_in = _main_input(node)
        if t_in is None or not node.outputs:
            continue
        out = node.outputs[0].shape
        inp = t_in.shape
        windows = _window_ops(node)
        down = [w for ws in windows for w in ws if w.stride > 1 and not w.transposed]
        if down and len(inp) >= 3 and inp[2:] != out[2:]:
            st = sorted({w.stride for w in down})
            sp_in, sp_out = "x".join(map(str, inp[2:])), "x".join(map(str, out[2:]))
            strides.append(f"{node.name} (stride {'/'.join(map(str, st))}: {sp_in} -> {sp_out})")
            changed.append(node)
        elif len(inp) >= 3 and len(out) >= 3 and inp[2:] != out[2:]:
            strides.append(f"{node.name} ({'x'.join(map(str, inp[2:]))} -> {'x'.join(map(str, out[2:]))})")
            changed.append(node)
        if len(inp) >= 2 and len(out) >= 2 and len(inp) == len(out) and inp[1] != out[1]:
            channels.append(f"{node.name} ({inp[1]} -> {out[1]} channels)")
            if node not in changed:
                changed.append(node)
    return strides, channels, changed


def explain_residual(graph: Graph, failure: Any, a: TensorInfo, b: TensorInfo) -> Diagnostic | None:
    """LS101: walk both operands back to their common ancestor; the branch that changed the shape is the
    main branch, the other the shortcut that needs a projection."""
    anc_a, anc_b = ancestors(graph, a.producer), ancestors(graph, b.producer)  # type: ignore[arg-type]
    common = anc_a & anc_b
    if not common:
        return None
    skip = _upsampled_skip_add(graph, failure, a, b, anc_a, anc_b, common)
    if skip is not None:
        return skip
    c = max(common)  # the latest node both depend on: where the block forks
    before = ancestors(graph, c)
    branch_a = sorted(anc_a - before)
    branch_b = sorted(anc_b - before)
    fork = graph[c].outputs[0].shape if graph[c].outputs else None
    # the main branch is the one that changed the shape it got at the fork
    if fork is not None and tuple(a.shape) == tuple(fork) and tuple(b.shape) != tuple(fork):
        main, short, main_branch, short_branch = b, a, branch_b, branch_a
    else:
        main, short, main_branch, short_branch = a, b, branch_a, branch_b
    strides, channels, _ = _changes(graph, main_branch)
    s_strides, s_channels, _ = _changes(graph, short_branch)
    fork_name = graph[c].name
    if graph[c].kind == "module" and not graph[c].ops and graph[c].inputs and graph[c].inputs[0].producer is not None:
        # an op-less module (nn.Identity) hands on the very tensor it got, so the tracer sees the branch start
        # there; the block really forks where that tensor was made
        fork_name = producer_name(graph, graph[c].inputs[0])
    what = []
    if strides:
        what.append("the resolution at " + ", ".join(strides))
    if channels:
        what.append("the channels at " + ", ".join(channels))
    changed = " and ".join(what) if what else "its shape"
    if not short_branch or (not s_strides and not s_channels):
        via = ", ".join(graph[n].name for n in short_branch)
        if short.producer == c:  # the shortcut operand is the fork itself (e.g. an nn.Identity shortcut)
            shortcut_text = (f"the shortcut ({graph[c].name}: {graph[c].type}) passes the block input "
                             f"{tuple(fork or ())} through unchanged")
        else:
            shortcut_text = (f"the shortcut is an identity of {fork_name}'s output {tuple(fork or ())}"
                             + (f" (through {via})" if via else ""))
    else:
        shortcut_text = ("the shortcut changes it differently: " + ", ".join(s_strides + s_channels))
    c_in, c_out = short.shape[1], main.shape[1]
    ratios = [x // y if y and x % y == 0 else None for x, y in zip(short.shape[2:], main.shape[2:])]
    stride = ratios[0] if ratios and len(set(ratios)) == 1 and ratios[0] else None
    nd = len(main.shape) - 2
    conv = f"nn.Conv{nd}d({c_in}, {c_out}, kernel_size=1" + (f", stride={stride}" if stride and stride > 1 else "") \
        + ", bias=False)"
    bn = f"nn.BatchNorm{nd}d({c_out})" if 1 <= nd <= 3 else "a norm layer"
    if stride is None:
        fix = (f"make both branches produce the same shape; the shortcut's spatial size "
               f"{tuple(short.shape[2:])} is not an integer multiple of the main branch's {tuple(main.shape[2:])}")
    else:
        fix = (f"project the shortcut like the main branch: replace it with nn.Sequential({conv}, {bn}) "
               f"(the torchvision ResNet 'downsample')")
    return _diag(
        "LS101", failure,
        f"{failure.op} {_where(failure)}: residual shortcut does not match the main branch: main branch "
        f"{describe(graph, main)} vs shortcut {describe(graph, short)}. The main branch (forked at {fork_name}) "
        f"changed {changed}, but {shortcut_text}",
        fix, fork=fork_name, main_branch=[graph[n].name for n in main_branch],
        shortcut_branch=[graph[n].name for n in short_branch], stride=stride, channels=[c_in, c_out],
    )


def _upsampled_skip_add(graph: Graph, failure: Any, a: TensorInfo, b: TensorInfo, anc_a: set[int],
                        anc_b: set[int], common: set[int]) -> Diagnostic | None:
    """LS101 for an FPN/LinkNet-style add of an upsampled (top-down) branch and a lateral skip whose sizes differ
    because a stride-2 layer floored an odd size on the way down: the floor-division story LS103 tells for a
    U-Net concat, with the input sizes that line up (issue 13). None when it is not that case."""
    spatial = [i for i, (x, y) in enumerate(zip(a.shape, b.shape)) if i >= 2 and x != y]
    if not spatial or len(a.shape) != len(b.shape):
        return None
    ndim = len(a.shape)
    axes = [i - ndim for i in spatial]
    before = ancestors(graph, max(common))
    branches = sorted((anc_a | anc_b) - before)
    up_a = any(_upsamples(graph[n]) for n in sorted(anc_a - before))
    up_b = any(_upsamples(graph[n]) for n in sorted(anc_b - before))
    if up_a == up_b:
        return None  # both or neither upsampled: a residual block, explained below
    floored, _ = _downsamplers(graph, branches, axes)
    if not floored:
        return None
    up, lateral = (a, b) if up_a else (b, a)
    msg = (f"{failure.op} {_where(failure)}: the upsampled (top-down) branch {describe(graph, up)} does not match "
           f"the lateral skip {describe(graph, lateral)} it is added to. This is a skip connection broken by floor "
           f"division: {'; '.join(floored)}, and the x2 way back up cannot restore the lost pixel")
    pairs = [(a.producer, b.producer)] + _concat_pairs(graph)
    mult = max(_path_stride(graph, a.producer, axes), _path_stride(graph, b.producer, axes))
    sizes = _sizes_aligning(graph, pairs, axes)
    hints = []
    if sizes:
        hints.append("use an input size of " + " or ".join(map(str, sizes))
                     + (f" (a multiple of {mult})" if mult > 1 and all(x % mult == 0 for x in sizes) else ""))
    elif mult > 1:
        hints.append(f"use an input size that is a multiple of {mult}")
    hints.append("or resize the upsampled tensor to the skip's size before the add (F.interpolate(up, "
                 "size=skip.shape[-2:]), as torchvision's FeaturePyramidNetwork does)")
    return _diag("LS101", failure, msg, "; ".join(hints), floored=floored, multiple=mult,
                 valid_input_sizes=sizes or [], merge="upsampled skip add")


def _flatten_source(graph: Graph, t: TensorInfo) -> tuple[Node, tuple[int, ...]] | None:
    """The flatten/view node that made ``t`` (through shape-preserving ops) and the shape it flattened."""
    current = t.producer
    steps = 0
    while current is not None and current < len(graph) and steps < 10:
        node = graph[current]
        t_in = _main_input(node)
        if t_in is None or not node.outputs:
            return None
        if len(t_in.shape) > len(node.outputs[0].shape) and any(o.spatial == "reshape" for o in node.ops):
            return node, tuple(t_in.shape)
        if node.type in ("Flatten",) and len(t_in.shape) > len(node.outputs[0].shape):
            return node, tuple(t_in.shape)
        if tuple(t_in.shape) != tuple(node.outputs[0].shape):
            return None
        current = t_in.producer
        steps += 1
    return None


def _square_split(features: int, channels: int, ndim: int) -> tuple[int, ...] | None:
    """``3136, 64, 2`` -> ``(64, 7, 7)``: the factorization with equal spatial sides, if there is one."""
    if channels <= 0 or features % channels:
        return None
    rest = features // channels
    side = round(rest ** (1.0 / ndim)) if ndim else 0
    for s in (side - 1, side, side + 1):
        if s > 0 and s ** ndim == rest:
            return (channels,) + (s,) * ndim
    return None


def explain_linear(graph: Graph, failure: Any) -> Diagnostic | None:
    """LS102: a Linear after flatten gets C*H*W features for another H*W than it was built for."""
    if len(failure.operands) < 2:
        return None
    x, w = failure.operands[0], failure.operands[1]
    if not x.shape or len(w.shape) != 2:
        return None
    expected, got = w.shape[1], x.shape[-1]
    layer = failure.module or "the linear layer"
    head = (f"linear {_where(failure)}: {layer} expects in_features={expected} but gets {got} "
            f"({describe(graph, x)})")
    src = _flatten_source(graph, x)
    if src is None:
        return _diag("LS102", failure, head, f"set in_features={got} (nn.Linear({got}, {w.shape[0]})) or fix the "
                     f"layer that makes the last dim {got}", expected=expected, got=got)
    flat, pre = src
    channels, spatial = pre[1], pre[2:]
    got_f = _factor(got, (channels, *spatial)) if math.prod((channels, *spatial)) == got else str(got)
    split = _square_split(expected, channels, len(spatial))
    exp_f = _factor(expected, split) if split else f"{expected}"
    producer = producer_name(graph, _main_input(flat)) if _main_input(flat) else "?"
    msg = (f"{head}: {flat.name} flattens {pre} from {producer} into {got_f}, but the layer was built for "
           f"{exp_f}")
    data: dict[str, Any] = {"expected": expected, "got": got, "flatten": flat.name, "flattened_shape": list(pre)}
    hints = []
    if split and spatial:
        want = split[1:]
        axes = [-(len(spatial) - i) for i in range(len(spatial))]
        trace, sizes, extra = _input_hint(graph, _main_input(flat).producer, axes, want)  # type: ignore[union-attr]
        data.update(extra)
        if trace:
            msg += f". The spatial size comes from the input: {trace}"
        if sizes:
            hints.append(f"use an input size of {sizes} (gives {'x'.join(map(str, want))} before the flatten)")
        n = len(spatial)
        hints.append(f"insert nn.AdaptiveAvgPool{n}d({tuple(want) if n > 1 else want[0]}) before the flatten so "
                     f"any input size gives {exp_f.split(' = ')[-1]}")
    hints.append(f"or build the layer as nn.Linear({got}, {w.shape[0]}) for this input size")
    return _diag("LS102", failure, msg, "; ".join(hints), **data)


_CAT_DIM = re.compile(r"except in dimension (-?\d+)")


def _downsamplers(graph: Graph, branch: list[int], axes: Sequence[int]) -> tuple[list[str], int]:
    """Layers on ``branch`` that floor an odd size (size not divisible by the stride), and the product of
    all downsampling strides on it."""
    floored, product = [], 1
    for nid in branch:
        node = graph[nid]
        for ws in _window_ops(node):
            axis_ws = [ws[a] for a in axes if len(ws) >= -a]
            st = max((w.stride for w in axis_ws if not w.transposed), default=1)
            product *= st
            bad = [w for w in axis_ws if not w.transposed and w.stride > 1
                   and (w.dropped > 0 or w.size_in % w.stride)]
            if bad:
                w = bad[0]
                floored.append(f"{node.name} ({node.type} stride {w.stride} floors {w.size_in} -> {w.size_out}"
                               + (f", dropping {w.dropped} px" if w.dropped else "") + ")")
    return floored, product


def explain_cat(graph: Graph, failure: Any) -> Diagnostic | None:
    """LS103: concatenated tensors differ in size; for skip connections, name the layer that floored."""
    ts = list(failure.operands)
    if len(ts) < 2:
        return None
    ndim = len(ts[0].shape)
    dim = _attrs(failure).get("dim", 0)  # the call's own argument; the message only when it is not recorded
    if not isinstance(dim, int):
        m = _CAT_DIM.search(failure.message or "")
        dim = int(m.group(1)) if m else (1 if ndim >= 3 else 0)
    dim = dim % ndim if ndim else 0
    first = ts[0]
    odd = next((t for t in ts[1:] if len(t.shape) != ndim or any(
        x != y for i, (x, y) in enumerate(zip(first.shape, t.shape)) if i != dim)), None)
    if odd is None:
        return None
    operands = ", ".join(describe(graph, t) for t in ts)
    bad_dims = [i for i, (x, y) in enumerate(zip(first.shape, odd.shape)) if i != dim and x != y]
    msg = (f"{failure.op} {_where(failure)} along dim {dim}: the tensors must match in every other dim, but "
           f"{describe(graph, first)} and {describe(graph, odd)} differ in dim "
           + ", ".join(f"{i} ({first.shape[i]} vs {odd.shape[i]})" for i in bad_dims))
    data: dict[str, Any] = {"dim": dim, "mismatched_dims": bad_dims}
    spatial = [i for i in bad_dims if i >= 2]
    if not spatial or first.producer is None or odd.producer is None:
        return _diag("LS103", failure, msg + f" (operands: {operands})",
                     "make the sizes agree before concatenating (crop, pad or interpolate one operand)", **data)
    axes = [i - ndim for i in spatial]
    anc_a, anc_b = ancestors(graph, first.producer), ancestors(graph, odd.producer)
    common = anc_a & anc_b
    before = ancestors(graph, max(common)) if common else set()
    branches = sorted((anc_a | anc_b) - before)
    floored, _ = _downsamplers(graph, branches, axes)
    upsampled = any(_upsamples(graph[n]) for n in branches)
    unet = bool(floored) and upsampled
    data["floored"] = floored
    if unet:
        msg += (f". This is a skip connection broken by floor division: {'; '.join(floored)}, and the way back "
                f"up cannot restore the lost pixel")
    else:
        ch_a, ch_b = size_chain(graph, first.producer, axes[0]), size_chain(graph, odd.producer, axes[0])
        if ch_a is not None and ch_b is not None:
            start = ch_a[0].outputs[0].shape[axes[0]]
            msg += (f". The branches change the size differently: {chain_text(ch_a[1], start)} vs "
                    f"{chain_text(ch_b[1], start)}")
    hints = []
    # every spatial concat of the trace must line up at the suggested size, not only this one
    pairs = [(first.producer, odd.producer)] + _concat_pairs(graph)
    mult = max(_path_stride(graph, first.producer, axes), _path_stride(graph, odd.producer, axes))
    data["multiple"] = mult
    sizes = _sizes_aligning(graph, pairs, axes)
    if sizes:
        data["valid_input_sizes"] = sizes
        hints.append("use an input size of " + " or ".join(map(str, sizes))
                     + (f" (a multiple of {mult})" if mult > 1 and all(s % mult == 0 for s in sizes) else ""))
    if unet:
        if mult > 1 and not hints:
            hints.append(f"use an input size that is a multiple of {mult}")
        hints.append("or pad/crop the upsampled tensor to the skip's size before the concat (e.g. F.pad(up, "
                     "[0, dx, 0, dy]) or F.interpolate(up, size=skip.shape[-2:]))")
    else:
        hints.append("make both branches produce the same size (same stride and 'same'-style padding, "
                     "p = (k-1)//2), or crop/pad/interpolate one operand before the concat")
    return _diag("LS103", failure, msg, "; ".join(hints), **data)


def _upsamples(node: Node) -> bool:
    """A transposed conv or a resize that enlarges: the way back up of an encoder-decoder."""
    for o in node.ops:
        if o.windows and any(w.transposed and w.stride > 1 for w in o.windows):
            return True
        if o.spatial == "resize":
            t_in = _main_input(node)
            if t_in is not None and node.outputs and len(t_in.shape) >= 3 \
                    and math.prod(node.outputs[0].shape[2:]) > math.prod(t_in.shape[2:]):
                return True
    return False


def _same(steps_a: list, steps_b: list, s: int) -> bool:
    a, b = run_chain(steps_a, s), run_chain(steps_b, s)
    return a is not None and a == b


def _concat_pairs(graph: Graph) -> list[tuple[int, int]]:
    """``(first producer, other producer)`` of every recorded spatial concat (recovered ones included)."""
    pairs = []
    for node in graph:
        if not any(o.spatial == "concat" for o in node.ops):
            continue
        traced = [t for t in node.inputs if t.producer is not None and len(t.shape) >= 3]
        pairs.extend((traced[0].producer, t.producer) for t in traced[1:])  # type: ignore[misc]
    return pairs


def _path_stride(graph: Graph, node_id: int, axes: Sequence[int]) -> int:
    """Product of the downsampling strides from the model input to ``node_id`` (first-input path)."""
    return _downsamplers(graph, [n.id for n in first_input_path(graph, node_id)], axes)[1]


def _sizes_aligning(graph: Graph, pairs: list[tuple[int, int]], axes: Sequence[int]) -> list[int]:
    """The nearest input sizes below and above the current one at which every pair has equal sizes on
    ``axes``; [] when a chain cannot be followed back to the input."""
    chains = []
    current = None
    for a, b in dict.fromkeys(pairs):
        for axis in axes:
            ca, cb = size_chain(graph, a, axis), size_chain(graph, b, axis)
            if ca is None or cb is None:
                return []
            chains.append((ca[1], cb[1]))
            current = current or ca[0].outputs[0].shape[axis]
    if current is None:
        return []

    def ok(s: int) -> bool:
        return all(_same(sa, sb, s) for sa, sb in chains)

    below = next((s for s in range(current - 1, 0, -1) if ok(s)), None)
    above = next((s for s in range(current + 1, current + _SEARCH_LIMIT) if ok(s)), None)
    return [s for s in (below, above) if s is not None]


def _channel_setter(graph: Graph, t: TensorInfo) -> Node | None:
    """The last layer before ``t`` that changed the channel count (dim 1)."""
    current = t.producer
    while current is not None and current < len(graph):
        node = graph[current]
        t_in = _main_input(node)
        if node.kind == "input" or t_in is None:
            return node
        if node.outputs and len(t_in.shape) >= 2 and len(node.outputs[0].shape) >= 2 \
                and t_in.shape[1] != node.outputs[0].shape[1]:
            return node
        current = t_in.producer
    return None


def explain_conv(graph: Graph, failure: Any) -> Diagnostic | None:
    """LS104: the conv's weight says ``in_channels`` = C but the input has another channel count."""
    if len(failure.operands) < 2:
        return None
    x, w = failure.operands[0], failure.operands[1]
    nd = len(w.shape) - 2
    if nd < 1 or len(x.shape) < nd + 1:
        return None
    got = x.shape[-(nd + 1)]
    transposed = in_family(failure.op, "conv_transpose")
    groups = getattr(failure, "extra", {}).get("groups")
    if groups is None:  # not recorded (recovery off): a weight with one input channel per group is depthwise
        groups = w.shape[0] if (not transposed and w.shape[1] == 1) else 1
    groups = int(groups) or 1
    expected = w.shape[0] if transposed else w.shape[1] * groups
    out_ch = w.shape[1] * groups if transposed else w.shape[0]
    kernel = "x".join(map(str, w.shape[2:]))
    if got == expected:
        return None  # not a channel mismatch (a kernel larger than the input...)
    layer = failure.module or failure.op
    setter = _channel_setter(graph, x)
    where_from = ""
    if setter is not None and setter.kind != "input":
        t_in = _main_input(setter)
        where_from = (f"; the {got} channels come from {_layer_kind(setter)}"
                      + (f", which maps {t_in.shape[1]} -> {got} channels" if t_in is not None and len(t_in.shape) > 1
                         else ""))
    elif setter is not None:
        where_from = f"; the {got} channels are the model input's"
    kind = "ConvTranspose" if transposed else "Conv"
    grp = f", groups={groups}" if groups > 1 else ""
    msg = (f"{failure.op} {_where(failure)}: {layer} expects {expected} input channels (weight "
           f"{tuple(w.shape)}: {kind}{nd}d({expected}, {out_ch}, kernel {kernel}{grp})) but gets {got} from "
           f"{describe(graph, x)}{where_from}")
    hint = f"build {layer} with in_channels={got}"
    if setter is not None and setter.kind != "input":
        hint += f", or make {setter.name} output {expected} channels"
    return _diag("LS104", failure, msg, hint, expected=expected, got=got,
                 channel_setter=setter.name if setter is not None else None)


def explain_matmul(graph: Graph, failure: Any) -> Diagnostic | None:
    """LS105: ``a @ b`` needs ``a.shape[-1] == b.shape[-2]``."""
    ts = list(failure.operands)
    if len(ts) < 2:
        return None
    a, b = ts[0], ts[1]
    if not a.shape or not b.shape:
        return None
    inner_b = b.shape[-2] if len(b.shape) >= 2 else b.shape[0]
    msg = (f"{failure.op} {_where(failure)}: {describe(graph, a)} @ {describe(graph, b)}: inner dimensions "
           f"differ ({a.shape[-1]} vs {inner_b}); a @ b needs a.shape[-1] == b.shape[-2]")
    if a.shape[-1] != inner_b:
        if len(b.shape) >= 2 and a.shape[-1] == b.shape[-1]:
            hint = (f"transpose the second operand: {producer_name(graph, a)} @ "
                    f"{producer_name(graph, b)}.transpose(-2, -1) (gives {(*a.shape[:-1], b.shape[-2])})")
        else:
            hint = f"make {producer_name(graph, a)}'s last dim {inner_b} or {producer_name(graph, b)}'s dim -2 {a.shape[-1]}"
    else:  # inner dims agree: the batch dims do not broadcast
        conflicts = _broadcast_conflicts(a.shape[:-2], b.shape[:-2])
        msg = (f"{failure.op} {_where(failure)}: {describe(graph, a)} @ {describe(graph, b)}: batch dimensions "
               f"cannot broadcast ({', '.join(f'dim {d}: {x} vs {y}' for d, x, y in conflicts)})")
        hint = "make the leading (batch) dims equal or 1"
    return _diag("LS105", failure, msg, hint, inner=[a.shape[-1], inner_b])


_VIEW_MSG = re.compile(r"shape '\[([-\d, ]*)\]' is invalid for input of size (\d+)")


def explain_reshape(graph: Graph, failure: Any) -> Diagnostic | None:
    """LS106: a view/reshape asks for another element count than the tensor has."""
    if not failure.operands:
        return None
    x = failure.operands[0]
    target = _attrs(failure).get("shape")  # the call's own argument; the message only when it is not recorded
    if not isinstance(target, list):
        m = _VIEW_MSG.search(failure.message or "")
        if m is None:
            return None
        target = [int(s) for s in m.group(1).replace(" ", "").split(",") if s]
    total = math.prod(x.shape)
    msg = f"{failure.op} {_where(failure)}: cannot view {describe(graph, x)} ({total} elements) as {tuple(target)}"
    data: dict[str, Any] = {"target": target, "elements": total}
    hints = []
    per = total // x.shape[0] if x.shape and x.shape[0] and total % x.shape[0] == 0 else None
    if target and x.shape and target[0] == x.shape[0] and len(target) == 2 and target[1] > 0 and per \
            and len(x.shape) >= 3:
        want = target[1]
        channels, spatial = x.shape[1], x.shape[2:]
        split = _square_split(want, channels, len(spatial))
        got_f = _factor(per, (channels, *spatial))
        msg += (f": per sample the tensor has {got_f} but the view asks for "
                f"{_factor(want, split) if split else want}")
        if split and x.producer is not None:
            axes = [-(len(spatial) - i) for i in range(len(spatial))]
            trace, sizes, extra = _input_hint(graph, x.producer, axes, split[1:])
            data.update(extra)
            if trace:
                msg += f". The spatial size comes from the input: {trace}"
            if sizes:
                hints.append(f"use an input size of {sizes}")
            hints.append(f"insert nn.AdaptiveAvgPool{len(spatial)}d({split[1:] if len(spatial) > 1 else split[1]}) "
                         f"before the view")
        hints.append(f"or flatten what is there with x.flatten(1) / x.view(x.size(0), -1) and size the next layer "
                     f"for {per} features")
    else:
        hints.append(f"the requested sizes must multiply to {total}; use -1 for the dim to infer, "
                     f"or .reshape() on non-contiguous tensors")
    return _diag("LS106", failure, msg, "; ".join(hints), **data)
