"""Design lints: findings about models that run but are built in a way the CNN-design checklist warns about.

Each lint is an analyzer ``Context -> list[Diagnostic]`` declared with ``@analyzer("LS3xx")``: one stable code
(LS110, LS301-LS307), a severity, the module path and a hint. :data:`ANALYZERS` lists them for
``default_analyzers``; select or ignore them by code with ``layerscope.analyze(..., select=[...], ignore=[...])``
(a deselected lint is not run). Pure graph reads: no torch.
"""

from __future__ import annotations


from ..diagnostics import Diagnostic, make
from ..graph import Graph, Node, OpRecord
from ..rules.table import has_fact, in_family
from .context import AnalyzerSpec, Context, analyzer

_CONV = ("conv", "convolution", "conv_transpose")  # op-table families
_LINEAR = ("linear", "bilinear")
#: a chain of more weight layers than this without a skip connection is a "plain stack"
PLAIN_STACK_LIMIT = 10
#: kernels at least this large are "large" (the 7x7 of a ResNet stem)
LARGE_KERNEL = 7
#: share of all parameters above which the fully connected head "holds most of them"
HEAD_SHARE = 0.5


# ----------------------------------------------------------------------------------------------- helpers
def weight_op(node: Node) -> OpRecord | None:
    """The conv / transposed conv / linear op of a weight layer, if the node is one."""
    for o in node.ops:
        if in_family(o.op, *_CONV, *_LINEAR):
            return o
    return None


def is_weight_layer(node: Node) -> bool:
    return weight_op(node) is not None


def _is_conv(node: Node) -> bool:
    o = weight_op(node)
    return o is not None and in_family(o.op, *_CONV)


def _is_batch_norm(node: Node) -> bool:
    return any(has_fact(o.op, "batch_statistics") for o in node.ops)


def _producers(node: Node) -> list[int]:
    seen: list[int] = []
    for t in node.inputs:
        if t.producer is not None and t.producer not in seen:
            seen.append(t.producer)
    return seen


def _merge_kind(node: Node) -> str | None:
    """``skip`` for an add/sub/concat of two traced tensors (a skip connection), ``gate`` for mul/div."""
    if node.kind != "op" or len(_producers(node)) < 2 or not node.ops:
        return None
    op = node.ops[0]
    if has_fact(op.op, "additive") or op.spatial == "concat":
        return "skip"
    if has_fact(op.op, "multiplicative"):
        return "gate"
    return None


def _ancestors(graph: Graph, node_id: int) -> set[int]:
    seen = {node_id}
    stack = [node_id]
    while stack:
        for p in _producers(graph[stack.pop()]):
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return seen


def _fmt_kernel(ws: tuple) -> str:
    return "x".join(str(w.kernel) for w in ws)


# ------------------------------------------------------------------------------------------------- lints
@analyzer("LS110")
def lint_silent_broadcast(ctx: Context) -> list[Diagnostic]:
    """LS110: a residual add/sub whose operand has size 1 along a dim where the other is larger.

    ``x + branch(x)`` where the branch ends in 1 channel broadcasts it over all channels silently. Gating
    with a multiply (``x * se(x)``, ``(N, C, 1, 1)``) is legitimate and not flagged; neither is adding a
    global context vector whose spatial dims are all 1 (GCNet), nor adding a constant (biases, positional
    embeddings), nor a merge of tensors that do not share an origin (masks built from another input).
    """
    graph = ctx.graph
    out: list[Diagnostic] = []
    for node in graph:
        if _merge_kind(node) != "skip" or not has_fact(node.ops[0].op, "additive"):
            continue
        traced = [t for t in node.inputs if t.producer is not None]
        if len(traced) < 2:
            continue
        a, b = traced[0], traced[1]
        if len(a.shape) != len(b.shape) or len(a.shape) < 3 or a.shape == b.shape:
            continue
        flagged = []
        for d in range(1, len(a.shape)):
            for small, big in ((a, b), (b, a)):
                if small.shape[d] == 1 and big.shape[d] > 1:
                    global_context = d >= 2 and all(s == 1 for s in small.shape[2:])
                    if not global_context:
                        flagged.append((d, small, big))
        if not flagged:
            continue
        smalls = {id(f[1]) for f in flagged}
        if len(smalls) > 1:
            continue  # each operand broadcasts over the other: an outer sum/difference, not a residual
        d, small, big = flagged[0]
        anc_small, anc_big = _ancestors(graph, small.producer), _ancestors(graph, big.producer)  # type: ignore[arg-type]
        common = anc_small & anc_big
        if not common:
            continue
        # a residual *branch*: weight layers between the fork and the size-1 operand (masks built by
        # arithmetic on shapes/indices do not count)
        branch = anc_small - _ancestors(graph, max(common))
        if not any(is_weight_layer(graph[n]) for n in branch):
            continue
        dims = sorted({f[0] for f in flagged})
        what = "channel" if dims == [1] else "dim " + ", ".join(map(str, dims))
        small_name = graph[small.producer].name  # type: ignore[index]
        big_name = graph[big.producer].name  # type: ignore[index]
        out.append(make(
            "LS110",
            f"{node.ops[0].op} broadcasts {tuple(small.shape)} from {small_name} over "
            f"{tuple(big.shape)} from {big_name} along {what} (size 1 vs "
            f"{big.shape[d]}): a branch ending in size 1 is silently copied across the other",
            hint=f"make {small_name} output {big.shape[d]} along dim {d} (e.g. its last conv's out_channels), "
                 f"or use an explicit gate (x * branch) / .expand() if broadcasting is intended",
            module=node.name, source=node.source, node=node.id,
            shapes=[list(small.shape), list(big.shape)], dims=dims,
        ))
    return out


@analyzer("LS301")
def lint_conv_bias_before_bn(ctx: Context) -> list[Diagnostic]:
    """LS301: a conv with a bias whose only consumer is BatchNorm: BN subtracts the mean, cancelling it."""
    graph = ctx.graph
    succ = graph.successors()
    out: list[Diagnostic] = []
    for node in graph:
        o = weight_op(node)
        if o is None or not in_family(o.op, *_CONV) or len(o.inputs) < 3:
            continue  # inputs are (x, weight, bias) when the conv has a bias
        consumers = succ.get(node.id, [])
        if len(consumers) != 1:
            continue
        bn = graph[consumers[0]]
        if not _is_batch_norm(bn) or not bn.inputs or bn.inputs[0].producer != node.id:
            continue
        bias = o.inputs[2]
        n = 1
        for s in bias:
            n *= s
        out.append(make(
            "LS301",
            f"{node.type} has bias=True but feeds {bn.name} ({bn.type}) directly; BatchNorm "
            f"subtracts the per-channel mean, so the {n} bias parameters have no effect",
            hint=f"build {node.name} with bias=False (BatchNorm's own shift plays the bias's role)",
            module=node.name, source=node.source, node=node.id, wasted_params=n, norm=bn.name,
        ))
    return out


@analyzer("LS302")
def lint_checkerboard(ctx: Context) -> list[Diagnostic]:
    """LS302: a transposed conv whose kernel is not divisible by its stride (uneven overlap: checkerboard)."""
    out: list[Diagnostic] = []
    for node in ctx.graph:
        for o in node.ops:
            if not in_family(o.op, "conv_transpose") and not (o.windows and all(w.transposed for w in o.windows)):
                continue
            if not o.windows:
                continue
            bad = [w for w in o.windows if w.transposed and w.stride > 1 and w.kernel % w.stride]
            if not bad:
                continue
            w = bad[0]
            out.append(make(
                "LS302",
                f"{o.op} with kernel {_fmt_kernel(o.windows)} and stride "
                f"{'x'.join(str(x.stride) for x in o.windows)}: the kernel is not divisible by the stride, so "
                f"output pixels get uneven numbers of contributions (checkerboard artifacts)",
                hint=f"use kernel_size={2 * w.stride}, stride={w.stride}, padding={w.stride // 2} (kernel divisible by "
                     f"stride), or upsample (nn.Upsample(scale_factor={w.stride})) followed by a 3x3 conv",
                module=node.name, source=node.source, node=node.id,
                kernel=[x.kernel for x in o.windows], stride=[x.stride for x in o.windows],
            ))
            break
    return out


@analyzer("LS303")
def lint_plain_stack(ctx: Context) -> list[Diagnostic]:
    """LS303: more than :data:`PLAIN_STACK_LIMIT` weight layers in a row with no skip connection.

    Counted along the longest data path; an add/sub/concat of two traced tensors (a skip connection) resets
    the count; a gate (``x * se(x)``) follows the main (larger) operand, so squeeze-excitation side convs
    do not lengthen the main path.
    """
    graph = ctx.graph
    depth: dict[int, int] = {}
    start: dict[int, int | None] = {}
    for node in graph:
        prods = [p for p in _producers(node) if p in depth]
        kind = _merge_kind(node)
        if kind == "skip":
            d, s = 0, None
        else:
            if kind == "gate":
                main = max((t for t in node.inputs if t.producer in depth), key=lambda t: t.numel)
                prods = [main.producer]  # type: ignore[list-item]
            best = max(prods, key=lambda p: depth[p], default=None)
            d, s = (depth[best], start[best]) if best is not None else (0, None)
        if is_weight_layer(node):
            d += 1
            s = s if s is not None else node.id
        depth[node.id], start[node.id] = d, s
    if not depth:
        return []
    end = max(depth, key=lambda n: depth[n])
    n = depth[end]
    if n <= PLAIN_STACK_LIMIT:
        return []
    first = graph[start[end]] if start[end] is not None else graph[end]
    last = graph[end]
    return [make(
        "LS303",
        f"{n} weight layers in a row with no skip connection, from {first.name} to {last.name}: deep plain "
        f"stacks are hard to optimize (vanishing gradients, degradation)",
        hint="add residual connections (x + f(x)) every 2-3 layers, or at least normalization; "
             "or make the stack shallower",
        module=first.name, source=first.source, node=first.id, depth=n, first=first.name, last=last.name,
    )]


def _flattened_spatial(graph: Graph, node: Node) -> tuple[int, ...] | None:
    """The shape a Linear's input was flattened from, when that shape had a spatial map larger than 1x1."""
    t = node.inputs[0] if node.inputs else None
    for _ in range(10):  # through dropout / activations back to the flatten
        if t is None or t.producer is None:
            return None
        prod = graph[t.producer]
        t_in = prod.inputs[0] if prod.inputs else None
        if t_in is None or not prod.outputs:
            return None
        flattens = prod.type == "Flatten" or any(o.spatial == "reshape" for o in prod.ops)
        if len(t_in.shape) >= 3 and len(prod.outputs[0].shape) == 2 and flattens:
            spatial = 1
            for s in t_in.shape[2:]:
                spatial *= s
            return tuple(t_in.shape) if spatial > 1 else None
        if tuple(t_in.shape) != tuple(prod.outputs[0].shape):
            return None
        t = t_in
    return None


@analyzer("LS304")
def lint_fc_head(ctx: Context) -> list[Diagnostic]:
    """LS304: the fully connected layers after the last conv hold most of the parameters (VGG-style).

    Only a head that starts from a flattened *spatial* map (``C*H*W`` features with ``H*W > 1``) is the
    VGG pattern; a classifier after global pooling (MobileNet with 1000 classes) is not, and neither are
    the linear layers inside transformer blocks (their inputs are not 2-D).
    """
    graph = ctx.graph
    convs = [n.id for n in graph if _is_conv(n)]
    if not convs:
        return []
    last_conv = max(convs)
    head = [n for n in graph if n.id > last_conv and (o := weight_op(n)) is not None and in_family(o.op, *_LINEAR)
            and n.inputs and len(n.inputs[0].shape) == 2]
    if not head:
        return []
    flattened = _flattened_spatial(graph, head[0])
    total = sum(n.params for n in graph)
    held = sum(n.params for n in head)
    if flattened is None or total <= 0 or held / total <= HEAD_SHARE:
        return []
    first = head[0]
    names = ", ".join(n.name for n in head[:4]) + (f" and {len(head) - 4} more" if len(head) > 4 else "")
    return [make(
        "LS304",
        f"the fully connected head ({names}) holds {held:,} of {total:,} parameters ({100 * held / total:.0f}%): "
        f"{first.name} takes all {first.inputs[0].shape[-1]:,} features of the flattened {flattened} map",
        hint="replace flatten + large Linear layers with global average pooling (nn.AdaptiveAvgPool2d(1)) and "
             "one Linear, as in ResNet/GoogLeNet: far fewer parameters and any input size works",
        module=first.name, source=first.source, node=first.id, head_params=held, total_params=total,
    )]


@analyzer("LS305")
def lint_large_kernel(ctx: Context) -> list[Diagnostic]:
    """LS305: a dense conv with a kernel of 7 or more after the stem (the first weight layer on a path).

    Depthwise large kernels (ConvNeXt) and factorized 1xk / kx1 kernels are cheap and not flagged.
    """
    graph = ctx.graph
    after_weight: dict[int, bool] = {}
    out: list[Diagnostic] = []
    for node in graph:
        prods = _producers(node)
        seen = any(after_weight.get(p, False) or is_weight_layer(graph[p]) for p in prods)
        after_weight[node.id] = seen
        o = weight_op(node)
        if o is None or not seen or not o.windows or in_family(o.op, *_LINEAR):
            continue
        if int(o.attrs.get("groups", 1) or 1) > 1:
            continue
        if min(w.kernel for w in o.windows) < LARGE_KERNEL:
            continue
        if all(w.size_out == 1 and w.effective_kernel >= w.size_in for w in o.windows):
            continue  # a kernel covering the whole map is a fully connected layer written as a conv
        out.append(make(
            "LS305",
            f"{node.type} with a {_fmt_kernel(o.windows)} kernel beyond the stem: a large dense "
            f"kernel costs k*k MACs per output and per input channel",
            hint="stack 3x3 convs for the same receptive field (two 3x3 = 5x5, three = 7x7) with fewer "
                 "parameters, or use a depthwise large kernel",
            module=node.name, source=node.source, node=node.id, kernel=[w.kernel for w in o.windows],
        ))
    return out


@analyzer("LS306")
def lint_pool_skips(ctx: Context) -> list[Diagnostic]:
    """LS306: a pooling window smaller than its stride never reads some pixels."""
    out: list[Diagnostic] = []
    for node in ctx.graph:
        for o in node.ops:
            if not o.windows or not in_family(o.op, "pool"):
                continue
            bad = [w for w in o.windows if w.effective_kernel < w.stride]
            if all(w.effective_kernel == 1 for w in o.windows):
                continue  # a 1x1 window is a strided subsample by design (x[..., ::s, ::s]; FPN's LastLevelMaxPool)
            if not bad:
                continue
            w = bad[0]
            skipped = 1 - (w.effective_kernel / w.stride) ** len(o.windows)
            out.append(make(
                "LS306",
                f"{o.op} with kernel {_fmt_kernel(o.windows)} and stride "
                f"{'x'.join(str(x.stride) for x in o.windows)}: the window is smaller than the stride, so "
                f"about {100 * skipped:.0f}% of the input pixels are never read",
                hint=f"use kernel_size >= stride (e.g. kernel_size={w.stride}, stride={w.stride})",
                module=node.name, source=node.source, node=node.id,
            ))
            break
    return out


@analyzer("LS307")
def lint_batchnorm_batch1(ctx: Context) -> list[Diagnostic]:
    """LS307: BatchNorm in training mode on a batch of 1: the batch statistics are one sample's."""
    hits: list[Node] = []
    for node in ctx.graph:
        for o in node.ops:
            if not has_fact(o.op, "batch_statistics") or not o.attrs.get("training") or not o.inputs or not o.inputs[0]:
                continue
            # normalizing the layer's input activations, not e.g. a weight (NFNet's standardized convs call
            # batch_norm on the weight with a "batch" of 1)
            acts = node.inputs[0].shape if node.inputs else None
            if acts is not None and tuple(o.inputs[0]) == tuple(acts) and acts[0] == 1:
                hits.append(node)
                break
    if not hits:
        return []
    names = ", ".join(n.name for n in hits[:3]) + (f" and {len(hits) - 3} more" if len(hits) > 3 else "")
    first = hits[0]
    if ctx.options.get("default_batch"):
        # the batch of 1 is layerscope's default, not the user's choice: say so, and do not fail CI over it
        return [make(
            "LS307",
            f"{len(hits)} BatchNorm layer(s) run in training mode ({names}) on layerscope's default batch of 1, "
            f"so the batch statistics here are a single sample's; this says nothing about your real batch",
            hint="pass your per-device batch (--batch-size N, or batch_size=N / a full (N, C, H, W) input size) "
                 "to check it",
            module=first.name, source=first.source, node=first.id, layers=[n.name for n in hits],
            severity="info", default_batch=True,
        )]
    return [make(
        "LS307",
        f"{len(hits)} BatchNorm layer(s) run in training mode on a per-device batch of 1 ({names}): the batch "
        f"statistics are those of a single sample, which makes training noisy and eval statistics unreliable",
        hint="train with a per-device batch of 16 or more, use SyncBatchNorm across devices, or switch to "
             "GroupNorm/LayerNorm (analyze with batch_size=... to check the real batch)",
        module=first.name, source=first.source, node=first.id, layers=[n.name for n in hits],
    )]


ANALYZERS: list[AnalyzerSpec] = [
    lint_silent_broadcast, lint_conv_bias_before_bn, lint_checkerboard, lint_plain_stack, lint_fc_head,
    lint_large_kernel, lint_pool_skips, lint_batchnorm_batch1,
]

__all__ = ["ANALYZERS", "HEAD_SHARE", "LARGE_KERNEL", "PLAIN_STACK_LIMIT", "is_weight_layer", "weight_op",
           "lint_batchnorm_batch1", "lint_checkerboard", "lint_conv_bias_before_bn", "lint_fc_head",
           "lint_large_kernel", "lint_plain_stack", "lint_pool_skips", "lint_silent_broadcast"]
