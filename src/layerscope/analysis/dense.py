"""LS140: a dense-prediction output whose spatial size is close to, but not, the input's (issue 13).

A segmentation/depth/super-resolution head is meant to give one output pixel per input pixel. When the input
size is not divisible by the network's total stride, stride-2 layers floor (or ceil) odd sizes on the way down
and x2 upsampling doubles them on the way up, so a 250x250 input can come back as 252x252: eager PyTorch runs,
the loss against a 250x250 mask then fails or silently broadcasts. The finding names the layers that rounded an
odd size and the nearest input sizes that divide evenly. Pure graph analysis, no torch.
"""

from __future__ import annotations

from typing import Any

from ..diagnostics import Diagnostic, make
from ..graph import Graph
from .context import analyzer

#: relative size difference below which an output "means" the input's resolution (a 1/2 or 1/4 map does not)
_CLOSE = 0.1


def _image_input(graph: Graph) -> Any:
    for n in graph.nodes:
        if n.kind == "input" and n.outputs and len(n.outputs[0].shape) >= 4 and "int" not in n.outputs[0].dtype \
                and n.outputs[0].dtype != "bool":
            return n.outputs[0]
    return None


def _rounding_layers(graph: Graph, rank: int) -> list[str]:
    """Layers whose spatial output is half an odd input size, rounded (63 -> 32) or doubled back unevenly."""
    names = []
    for n in graph.nodes:
        if n.kind == "input" or not n.inputs or not n.outputs:
            continue
        i, o = n.inputs[0].shape, n.outputs[0].shape
        if len(i) != rank or len(o) != rank:
            continue
        for a, b in zip(i[2:], o[2:]):
            if a % 2 == 1 and b in (a // 2, a // 2 + 1) and a > 1:
                names.append(f"{n.name} ({a} -> {b})")
                break
    return names


def _total_stride(graph: Graph, size: tuple[int, ...], rank: int) -> int:
    smallest = min((min(t.shape[2:]) for n in graph.nodes for t in n.outputs
                    if len(t.shape) == rank and min(t.shape[2:]) > 1), default=min(size))  # not global pools
    ratio = max(1, round(min(size) / max(smallest, 1)))
    stride = 1
    while stride * 2 <= ratio:
        stride *= 2
    return stride


@analyzer("LS140")
def analyze_dense_output(ctx: Any) -> list[Diagnostic]:
    graph: Graph = ctx.graph
    if getattr(ctx, "failures", ()):
        return []
    x = _image_input(graph)
    if x is None:
        return []
    rank, size = len(x.shape), tuple(x.shape[2:])
    out = []
    for t in graph.outputs:
        if len(t.shape) != rank or t.shape[0] != x.shape[0]:
            continue
        got = tuple(t.shape[2:])
        if got == size or not all(abs(g - s) <= max(2, _CLOSE * s) for g, s in zip(got, size)):
            continue
        stride = _total_stride(graph, size, rank)
        fits = sorted({(s // stride) * stride for s in size} | {-(-s // stride) * stride for s in size})
        rounding = _rounding_layers(graph, rank)
        producer = graph[t.producer].name if t.producer is not None and t.producer < len(graph) else None
        msg = (f"the output {tuple(t.shape)} is {'x'.join(map(str, got))} for a {'x'.join(map(str, size))} input: "
               f"a dense-prediction output (one value per input pixel) that is off by "
               f"{', '.join(str(g - s) for g, s in zip(got, size))} px"
               + (f"; odd sizes were rounded at {', '.join(rounding[:4])}" if rounding else ""))
        hint = (f"use an input size divisible by the total stride {stride} (e.g. "
                f"{' or '.join(str(f) for f in fits if f > 0)}), pad the input to it, or resize the output to "
                "the input's size (F.interpolate(out, size=x.shape[-2:]))")
        out.append(make("LS140", msg, hint=hint, module=producer, node=t.producer, output=list(t.shape),
                        input=list(x.shape), stride=stride, rounding=rounding))
    return out
