"""Receptive fields as plain data: what the receptive-field analysis stores in a Report (no torch, no analysis).

:class:`ReceptiveField` is the field of one tensor's units; :class:`FieldSummary` is what a Report keeps for
its renderers (the output's field, the input extent, the boxes of a few output units). Both round-trip through
``to_dict``/``from_dict``. A field made by :func:`layerscope.analysis.receptive_field.analyze_fields` keeps a
handle on that analysis for exact per-unit boxes behind upsampling; one read back from JSON falls back to the
affine numbers (identical wherever no upsampling is on the path).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Mapping, Union

Number = Union[int, float]
Key = tuple[int, int]  # (node id, output slot)
Box = tuple[tuple[Number, Number], ...]

__all__ = ["FieldSummary", "ReceptiveField", "spatial_axis_names"]

#: ``"receptive_field": graph -> FieldAnalysis``, registered by :mod:`layerscope.analysis.receptive_field` (which
#: the package imports): a summary read back from JSON asks it on the first exact per-unit query, never to render.
ANALYSES: dict[str, Callable[[Any], Any]] = {}


class _Deferred:
    """The receptive-field analysis of a graph read back from JSON, made on the first query that needs it
    (an exact box behind upsampling, ``Report.receptive_field_of``)."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self._analysis: Any = None

    def get(self) -> Any:
        if self._analysis is None:
            self._analysis = ANALYSES["receptive_field"](self.graph)
        return self._analysis

    def exact_box(self, key: Key, axis: int, index: int) -> Any:
        return self.get().exact_box(key, axis, index)

    def field_of(self, name: str) -> "ReceptiveField":
        return self.get().field_of(name)


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of the units of one tensor (a node's output), per spatial axis.

    ``size``, ``jump`` and ``start`` are tuples with one value per spatial axis of the model input
    (``(H, W)`` for images). When ``is_global`` the unit depends on the whole input: ``size`` is then the
    input extent, and ``local_size`` / ``local_start`` keep the field of the convolutional path (what
    people mean by "the receptive field of EfficientNet"). ``region(*index)`` is the half-open input box
    ``(first, end)`` per axis seen by the unit at ``index`` (not clipped to the input; ``clip=True`` does).

    >>> import torch, layerscope
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.MaxPool2d(2),
    ...                           torch.nn.Conv2d(8, 8, 3, padding=1))
    >>> rf = layerscope.receptive_field(net, input_size=32)
    >>> rf.size, rf.jump       # 3 + (2-1)*1 = 4; 4 + (3-1)*2 = 8; jump 1*2 = 2
    ((8, 8), (2, 2))
    >>> rf.region(0, 0)        # centre start = 0 + (1/2 - 0)*1 + (1 - 1)*2 = 0.5: [0.5 - 3.5, 0.5 + 3.5 + 1)
    ((-3, 5), (-3, 5))
    """

    name: str
    size: tuple[Number | None, ...]
    jump: tuple[Number | None, ...]
    start: tuple[Number | None, ...]
    is_global: bool
    global_from: str | None
    local_size: tuple[Number | None, ...]
    local_start: tuple[Number | None, ...]
    input_size: tuple[int, ...]
    exact: bool = True  # False: upsampling on the path and no exact per-unit answer could be computed
    #: what one input position is: "px" (images, volumes), "tokens" (token ids, token embeddings (N, L, E)),
    #: "frames" (1-D features (N, C, L) for a conv, e.g. log-mel audio) or "samples" (a 1-channel signal)
    units: str = "px"
    #: the field is global over the *prefix*: causal attention made it so (``is_global`` is True too).
    #: Unit ``t`` along the sequence axis sees positions ``0 .. t`` (plus its local field's right reach);
    #: ``size`` is the input extent, the field of the last unit.
    causal: bool = False
    #: why an axis of ``local_size`` is None: the code of the diagnostic that says so (LS404, LS410) and its text
    reason_code: str | None = None
    reason: str | None = None
    _analysis: Any = field(default=None, repr=False, compare=False)
    _key: Key | None = field(default=None, repr=False, compare=False)

    @property
    def axes(self) -> tuple[str, ...]:
        return spatial_axis_names(len(self.size))

    @property
    def exceeds_input(self) -> tuple[bool, ...]:
        """Per axis: the local field is larger than the input (units see padding on both sides)."""
        return tuple(s is not None and s > e for s, e in zip(self.local_size, self.input_size))

    def region(self, *index: int, clip: bool = False) -> tuple[tuple[Number, Number], ...]:
        """The input box ``((first, end), ...)`` seen by the unit at ``index`` (one index per axis).

        ``end`` is exclusive, so ``end - first`` is the field size along that axis. A global unit sees the
        whole input: ``(0, input_size)``; a causal one its prefix: ``(0, t + 1)`` for unit ``t`` (``t`` plus the
        right reach of its local field when that is known).
        """
        if self.is_global and self.causal:
            index = _index(index, len(self.size))
            out = []
            for a, (i, e) in enumerate(zip(index, self.input_size)):
                try:
                    hi = self.local_region(*index)[a][1]
                except ValueError:
                    hi = i + 1
                out.append((0, min(hi, e) if clip else hi))
            return tuple(out)
        if self.is_global:
            return tuple((0, e) for e in self.input_size)
        return self.local_region(*index, clip=clip)

    def local_region(self, *index: int, clip: bool = False) -> tuple[tuple[Number, Number], ...]:
        """Like :meth:`region`, for the local field (global-context branches ignored)."""
        index = _index(index, len(self.size))
        out = []
        for a, i in enumerate(index):
            box = None
            if self._analysis is not None and self._key is not None:
                box = self._analysis.exact_box(self._key, a, i)
            if box is None:
                rf, jump, start = self.local_size[a], self.jump[a], self.local_start[a]
                if rf is None or jump is None or start is None:
                    raise ValueError(f"the receptive field along axis {self.axes[a]} of {self.name} is unknown")
                c = Fraction(start) + i * Fraction(jump)
                box = (c - (Fraction(rf) - 1) / 2, c + (Fraction(rf) - 1) / 2 + 1)
            lo, hi = box
            if clip:
                lo, hi = max(lo, 0), min(hi, self.input_size[a])
            out.append((_num(lo), _num(hi)))
        return tuple(out)


def _index(index: tuple, n: int) -> tuple[int, ...]:
    if len(index) == 1 and isinstance(index[0], (tuple, list)):
        index = tuple(index[0])
    if len(index) == 1 and n > 1:
        index = index * n
    if len(index) != n:
        raise ValueError(f"give one index per spatial axis ({n}), got {index!r}")
    return tuple(int(i) for i in index)


def spatial_axis_names(n: int) -> tuple[str, ...]:
    return {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(n, tuple(f"d{i}" for i in range(n)))


def _num(x: Fraction | None) -> Number | None:
    if x is None:
        return None
    if isinstance(x, int):
        return x
    return int(x) if x.denominator == 1 else float(x)


def _tup(v: Any) -> tuple:
    return tuple(v) if v is not None else ()


def _field_to_dict(rf: ReceptiveField | None) -> dict[str, Any] | None:
    if rf is None:
        return None
    d = {"name": rf.name, "size": list(rf.size), "jump": list(rf.jump), "start": list(rf.start),
         "is_global": rf.is_global, "global_from": rf.global_from, "local_size": list(rf.local_size),
         "local_start": list(rf.local_start), "input_size": list(rf.input_size), "exact": rf.exact,
         "key": list(rf._key) if rf._key is not None else None}
    # written only when they say something (an image field's JSON is what it was before issue 13)
    if rf.units != "px":
        d["units"] = rf.units
    if rf.causal:
        d["causal"] = True
    if rf.reason_code is not None:
        d["reason_code"], d["reason"] = rf.reason_code, rf.reason
    return d


def _field_from_dict(d: Mapping[str, Any] | None, analysis: Any = None) -> ReceptiveField | None:
    if d is None:
        return None
    key = tuple(d["key"]) if d.get("key") is not None else None
    return ReceptiveField(d["name"], _tup(d["size"]), _tup(d["jump"]), _tup(d["start"]), bool(d["is_global"]),
                          d.get("global_from"), _tup(d["local_size"]), _tup(d["local_start"]),
                          _tup(d["input_size"]), bool(d.get("exact", True)), d.get("units", "px"),
                          bool(d.get("causal", False)), d.get("reason_code"), d.get("reason"),
                          analysis if key else None, key)


@dataclass(frozen=True)
class FieldSummary:
    """What the receptive-field analysis leaves in a Report for its renderers.

    ``input_size``: the input extent per spatial axis (empty: no spatial input). ``output``: the field of the
    model's first output (None when the trace did not reach it). ``boxes_of`` / ``boxes_size``: the tensor
    whose units the box plot draws (the last local tensor when the output is global) and its spatial size;
    ``boxes``: ``(unit, local region)`` of its first, centre and last units.
    """

    input_size: tuple[int, ...] = ()
    output: ReceptiveField | None = None
    boxes_of: ReceptiveField | None = None
    boxes_size: tuple[int, ...] = ()
    boxes: tuple[tuple[tuple[int, ...], Box], ...] = ()
    _analysis: Any = field(default=None, repr=False, compare=False)

    @property
    def n_axes(self) -> int:
        return len(self.input_size)

    def to_dict(self) -> dict[str, Any]:
        return {"input_size": list(self.input_size), "output": _field_to_dict(self.output),
                "boxes_of": _field_to_dict(self.boxes_of), "boxes_size": list(self.boxes_size),
                "boxes": [[list(u), [list(b) for b in box]] for u, box in self.boxes]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], graph: Any = None) -> "FieldSummary":
        """``graph``: the report's graph, analyzed again only if a query needs exact boxes (see ANALYSES)."""
        an = _Deferred(graph) if graph is not None else None
        return cls(_tup(d.get("input_size")), _field_from_dict(d.get("output"), an),
                   _field_from_dict(d.get("boxes_of"), an), _tup(d.get("boxes_size")),
                   tuple((tuple(u), tuple(tuple(b) for b in box)) for u, box in d.get("boxes", ())), _analysis=an)
