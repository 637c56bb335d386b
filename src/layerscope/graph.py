"""The layer graph: immutable records of what the traced forward did. No torch here.

A :class:`Node` is one recorded call: a leaf module (``layer1.0.conv1``, type ``Conv2d``), a functional or
tensor op called between modules (``layer1.0/add``), or a model input. Tensor data flow gives the edges:
each input of a node names the node (and output slot) that produced it, so a residual add has two in-edges.
A :class:`Scope` is one call of a container module (``layer1.0``), spanning the nodes recorded inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Mapping

from .geometry import WindowAxis
from .rules.table import in_family

NodeKind = Literal["input", "module", "op"]


@dataclass(frozen=True)
class TensorInfo:
    """A tensor as the graph sees it: shape, dtype and the node output that produced it (None: a constant)."""

    shape: tuple[int, ...]
    dtype: str
    producer: int | None = None
    slot: int = 0
    itemsize: int = 4

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize

    def to_dict(self) -> dict:
        return {"shape": list(self.shape), "dtype": self.dtype, "producer": self.producer, "slot": self.slot,
                "itemsize": self.itemsize}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TensorInfo":
        return cls(tuple(d["shape"]), d["dtype"], d["producer"], d.get("slot", 0), d.get("itemsize", 4))


@dataclass(frozen=True)
class OpRecord:
    """One functional op as counted by its rule (a leaf module node holds the ops its forward ran)."""

    op: str
    inputs: tuple[tuple[int, ...], ...]
    outputs: tuple[tuple[int, ...], ...]
    macs: int = 0
    flops: int = 0
    known: bool = True
    spatial: str = "pointwise"
    windows: tuple[WindowAxis, ...] | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    inplace: bool = False

    def to_dict(self) -> dict:
        return {
            "op": self.op, "inputs": [list(s) for s in self.inputs], "outputs": [list(s) for s in self.outputs],
            "macs": self.macs, "flops": self.flops, "known": self.known, "spatial": self.spatial,
            "windows": None if self.windows is None else [w.to_dict() for w in self.windows],
            "attrs": jsonable(dict(self.attrs)), "inplace": self.inplace,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "OpRecord":
        return cls(
            d["op"], tuple(tuple(s) for s in d["inputs"]), tuple(tuple(s) for s in d["outputs"]), d["macs"],
            d["flops"], d["known"], d["spatial"],
            None if d["windows"] is None else tuple(WindowAxis.from_dict(w) for w in d["windows"]),
            d.get("attrs", {}), d.get("inplace", False),
        )


def jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    return repr(x)


@dataclass(frozen=True)
class Node:
    """One recorded call."""

    id: int
    name: str
    kind: NodeKind
    type: str
    scope: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    ops: tuple[OpRecord, ...] = ()
    params: int = 0
    param_bytes: int = 0
    trainable_params: int = 0
    call: int = 0
    depth: int = 0
    source: str | None = None
    new_bytes: int = 0  # bytes of freshly allocated outputs (views and in-place results share memory)
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def macs(self) -> int:
        return sum(o.macs for o in self.ops)

    @property
    def flops(self) -> int:
        return sum(o.flops for o in self.ops)

    @property
    def unknown_ops(self) -> tuple[str, ...]:
        return tuple(o.op for o in self.ops if not o.known)

    @property
    def complete(self) -> bool:
        return all(o.known for o in self.ops)

    @property
    def windows(self) -> tuple[WindowAxis, ...] | None:
        """The window geometry of the node's sliding-window op, if it has exactly one."""
        found = [o.windows for o in self.ops if o.windows is not None and o.spatial == "window" and not in_family(o.op, "pad")]
        return found[0] if len(found) == 1 else None

    def to_dict(self) -> dict:
        return {
            "id": self.id, "name": self.name, "kind": self.kind, "type": self.type, "scope": self.scope,
            "inputs": [t.to_dict() for t in self.inputs], "outputs": [t.to_dict() for t in self.outputs],
            "ops": [o.to_dict() for o in self.ops], "params": self.params, "param_bytes": self.param_bytes,
            "trainable_params": self.trainable_params, "call": self.call, "depth": self.depth,
            "source": self.source, "new_bytes": self.new_bytes, "attrs": jsonable(dict(self.attrs)),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Node":
        return cls(
            d["id"], d["name"], d["kind"], d["type"], d["scope"],
            tuple(TensorInfo.from_dict(t) for t in d["inputs"]), tuple(TensorInfo.from_dict(t) for t in d["outputs"]),
            tuple(OpRecord.from_dict(o) for o in d["ops"]), d["params"], d["param_bytes"], d["trainable_params"],
            d["call"], d["depth"], d["source"], d["new_bytes"], d.get("attrs", {}),
        )


@dataclass(frozen=True)
class Scope:
    """One call of a container module: the nodes ``first..last`` were recorded inside it."""

    name: str
    type: str
    call: int
    first: int
    last: int
    outputs: tuple[TensorInfo, ...] = ()
    depth: int = 0

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "call": self.call, "first": self.first, "last": self.last,
                "outputs": [t.to_dict() for t in self.outputs], "depth": self.depth}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Scope":
        return cls(d["name"], d["type"], d["call"], d["first"], d["last"],
                   tuple(TensorInfo.from_dict(t) for t in d["outputs"]), d.get("depth", 0))


@dataclass(frozen=True)
class Graph:
    """Nodes in execution order (ids are positions), container scopes, and the model's outputs."""

    nodes: tuple[Node, ...]
    scopes: tuple[Scope, ...] = ()
    outputs: tuple[TensorInfo, ...] = ()

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, node_id: int) -> Node:
        return self.nodes[node_id]

    def by_name(self, name: str) -> Node | None:
        for n in self.nodes:
            if n.name == name:
                return n
        return None

    def edges(self) -> Iterator[tuple[int, int, int]]:
        """``(src, dst, input_index)`` for every traced tensor input."""
        for n in self.nodes:
            for i, t in enumerate(n.inputs):
                if t.producer is not None:
                    yield t.producer, n.id, i

    def predecessors(self, node_id: int) -> list[int]:
        seen: list[int] = []
        for t in self.nodes[node_id].inputs:
            if t.producer is not None and t.producer not in seen:
                seen.append(t.producer)
        return seen

    def successors(self) -> dict[int, list[int]]:
        succ: dict[int, list[int]] = {n.id: [] for n in self.nodes}
        for src, dst, _ in self.edges():
            if dst not in succ[src]:
                succ[src].append(dst)
        return succ

    def scope_output(self, name: str) -> TensorInfo | None:
        """The first output of the (first call of the) module ``name``: a leaf node or a container scope."""
        for n in self.nodes:
            if n.kind == "module" and n.name == name and n.outputs:
                return TensorInfo(n.outputs[0].shape, n.outputs[0].dtype, n.id, 0, n.outputs[0].itemsize)
        for s in self.scopes:
            if s.name == name and s.outputs:
                return s.outputs[0]
        return None

    def to_networkx(self) -> Any:
        import networkx as nx

        g = nx.DiGraph()
        for n in self.nodes:
            g.add_node(
                n.id, name=n.name, kind=n.kind, type=n.type, scope=n.scope,
                output_shape=n.outputs[0].shape if n.outputs else None, params=n.params, macs=n.macs,
                flops=n.flops,
            )
        for src, dst, i in self.edges():
            if g.has_edge(src, dst):
                g[src][dst]["inputs"].append(i)
            else:
                t = self.nodes[dst].inputs[i]
                g.add_edge(src, dst, inputs=[i], shape=t.shape)
        return g

    def to_dict(self) -> dict:
        return {"nodes": [n.to_dict() for n in self.nodes], "scopes": [s.to_dict() for s in self.scopes],
                "outputs": [t.to_dict() for t in self.outputs]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Graph":
        return cls(tuple(Node.from_dict(n) for n in d["nodes"]), tuple(Scope.from_dict(s) for s in d["scopes"]),
                   tuple(TensorInfo.from_dict(t) for t in d["outputs"]))
