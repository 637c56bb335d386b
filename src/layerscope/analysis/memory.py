"""Inference memory from the graph: the peak of live activations and the KV cache. No torch here.

``Report.activation_bytes`` is the *sum* of every fresh output (what a training step keeps for backward).
Inference frees a tensor once its last reader has run, so what a device must hold is the **peak** of the live
set. Liveness here: a node's fresh output is alive from the node until its last consumer; a node that
allocates nothing (a view, an in-place op) keeps its inputs alive as long as itself; the model's outputs and
the state returned in them (a KV cache) stay alive to the end. Model inputs count (they are live until their
last reader too). Temporaries *inside* a leaf module are not seen, so the peak is a lower bound by those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..graph import Graph, TensorInfo


@dataclass(frozen=True)
class Peak:
    """The largest live set: its bytes and the node at which it occurs (None for an empty graph)."""

    bytes: int
    node: int | None


def live_peak(graph: Graph, keep_alive: Iterable[int] = ()) -> Peak:
    """The inference peak of live activations (see the module doc). ``keep_alive``: producers of tensors that
    survive the forward besides its outputs (a KV cache)."""
    nodes = graph.nodes
    n = len(nodes)
    if not n:
        return Peak(0, None)
    alloc = [node.new_bytes for node in nodes]
    last = list(range(n))
    for node in nodes:
        for t in node.inputs:
            p = t.producer
            if p is not None and p < n and last[p] < node.id:
                last[p] = node.id
    end = n  # past the last node: never freed during the forward
    for t in graph.outputs:
        if t.producer is not None and t.producer < n:
            last[t.producer] = end
    for p in keep_alive:
        if 0 <= p < n:
            last[p] = end
    # aliases (views, in-place results) keep what they alias alive: propagate lifetimes backwards
    for node in reversed(nodes):
        if alloc[node.id] == 0:
            for t in node.inputs:
                p = t.producer
                if p is not None and p < node.id and last[p] < last[node.id]:
                    last[p] = last[node.id]
    frees: dict[int, int] = {}
    for i in range(n):
        if last[i] < end:
            frees[last[i]] = frees.get(last[i], 0) + alloc[i]
    live = best = 0
    at: int | None = None
    for i in range(n):
        live += alloc[i]
        if live > best:
            best, at = live, i
        live -= frees.get(i, 0)
    return Peak(best, at)


def kv_cache_summary(state: Iterable[TensorInfo]) -> dict[str, Any] | None:
    """What the KV cache returned by the forward holds: total bytes, bytes per cached position (per sequence),
    the cached length and the producers of its tensors. ``state``: the tensors found in the output's
    non-tensor objects (e.g. a transformers ``DynamicCache``: per layer keys and values shaped
    (batch, kv_heads, positions, head_dim))."""
    tensors = [t for t in state if len(t.shape) >= 3]
    if not tensors:
        return None
    total = sum(t.nbytes for t in tensors)
    per_token = 0
    lengths = set()
    for t in tensors:
        batch, length = t.shape[0], t.shape[-2]
        lengths.add(length)
        if batch and length:
            per_token += t.nbytes // (batch * length)
    return {"bytes": total, "bytes_per_token": per_token, "length": max(lengths), "lengths": sorted(lengths),
            "tensors": len(tensors), "batch": tensors[0].shape[0],
            "producers": sorted({t.producer for t in tensors if t.producer is not None})}


def kv_cache_from_meta(meta: Mapping[str, Any]) -> Mapping[str, Any] | None:
    got = meta.get("kv_cache") if meta else None
    return got if isinstance(got, Mapping) else None
