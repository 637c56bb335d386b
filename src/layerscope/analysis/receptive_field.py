"""Receptive fields over the layer graph: size, jump and centre per spatial axis, merges and global context.

For one spatial axis, a tensor's units are described by three numbers in input-pixel coordinates
(Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019):

- ``rf``: how many input pixels one unit sees (padding included: the field is not clipped at the border);
- ``jump``: input pixels between two adjacent units (the effective stride);
- ``start``: centre of the first unit's field (negative when padding puts it left of pixel 0).

A sliding-window op with kernel ``k``, stride ``s``, left padding ``p`` and dilation ``d`` maps them by::

    k_eff = d*(k - 1) + 1
    rf_out = rf_in + (k_eff - 1)*jump_in
    jump_out = jump_in * s
    start_out = start_in + ((k_eff - 1)/2 - p)*jump_in

A transposed conv is a conv over the input upsampled by ``s`` (``s - 1`` zeros between units) padded by
``k_eff - 1 - p``, so it divides the jump instead::

    jump_out = jump_in / s
    rf_out = rf_in + (k_eff - 1)*jump_out
    start_out = start_in + (p - (k_eff - 1)/2)*jump_out

Upsampling (``interpolate``, ``pixel_shuffle``) divides the jump too. After such an op the field is no
longer the same for every unit (an output unit of a stride-2 transposed conv sees one or two input units
depending on its parity), so the per-node numbers become a continuous approximation and the
:class:`ReceptiveField` of such a node is computed exactly, unit by unit, by propagating index intervals
backwards through the graph.

The fields are propagated over the graph (every edge ``producer -> node``), not over execution order:
at a merge (``add``, ``mul``, ``cat``...) the unit sees the union of its inputs' fields. Inputs that
disagree in jump (LS401) or whose centres do not line up (LS402) are reported, naming the merge and the
branches. Ops that mix all positions (adaptive pooling to 1x1, a mean over spatial dims, a Linear over
flattened positions, attention and matmuls over positions) make the field *global*; the *local* field of
the convolutional path, ignoring global-context branches such as squeeze-and-excitation gates, is kept.

Normalization statistics (BatchNorm in training, GroupNorm, InstanceNorm, LayerNorm) are not counted as
spatial context, as in every receptive-field convention.

Spatial axes are the trailing ``ndim - 2`` dims of each input (1 for ``(N, C, L)``, 2 for images, 3 for
volumes). They are followed through permutes (the dims are recorded by the rules), through reshapes whose
size groups prove the mapping (``flatten(2)`` into tokens and back to ``(H, W)``), and through slices
(offset and step shift ``start`` and scale ``jump``). A layout that cannot be proven (a window partition, an
``unfold``) leaves the field *unknown* (None) rather than guessed, with an LS404 note.

In the node table (``rf``, ``jump``, ``start`` columns) a global node shows the input extent as ``rf`` and its
centre as ``start``; ``jump`` stays the local grid's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable, Mapping, Sequence, Union

from ..diagnostics import Diagnostic, make
from .context import AnalyzerResult, analyzer
from ..fields import ANALYSES, FieldSummary, Key, ReceptiveField, _num, spatial_axis_names
from ..geometry import WindowAxis
from ..graph import Graph, Node, OpRecord, TensorInfo
from ..rules.table import has_fact, in_family
from .shapes import substituted_node
# One entry per tensor dim: an input spatial axis laid out along it (int), several axes folded into it
# (flatten/reshape: positions are no longer affine), or no spatial content (None).
Dim = Union[int, frozenset, None]


class _Part(frozenset):
    """Axes folded into a dim that holds only part of their positions (a window partition, as in Swin):
    mixing along it mixes a neighbourhood of unknown shape, not every position."""


class _Flat(frozenset):
    """Affine axes flattened in order into one dim (``flatten(2)`` of an image into tokens): splitting it back
    into dims of the same sizes (``reshape(N, C, H, W)``) restores them."""

    layout: tuple[tuple[int, int], ...]

    def __new__(cls, layout: Sequence[tuple[int, int]]) -> "_Flat":
        obj = super().__new__(cls, (a for a, _ in layout if a is not None))  # None: a batch dim folded in
        obj.layout = tuple(layout)
        return obj

__all__ = ["AxisField", "FieldAnalysis", "ReceptiveField", "analyze_fields", "analyze_receptive_field",
           "per_node", "spatial_axis_names", "summarize"]

_HALF = Fraction(1, 2)


# ============================================================================================ data
@dataclass(frozen=True)
class AxisField:
    """The field of a tensor's units along one input axis, in input pixels (exact rationals)."""

    rf: Fraction
    jump: Fraction
    start: Fraction

    @property
    def lo(self) -> Fraction:
        """Centre-relative first pixel of unit 0's field."""
        return self.start - (self.rf - 1) / 2

    @property
    def hi(self) -> Fraction:
        return self.start + (self.rf - 1) / 2


_UNIT = AxisField(Fraction(1), Fraction(1), Fraction(0))

# A 1-D index map, the step of one op along one axis (see _forward_step / _backward_step):
#   ("win", k_eff, stride, pad_left)   conv, pool, pad (k_eff=1), pixel_unshuffle
#   ("tconv", k_eff, stride, pad_left) transposed conv
#   ("near", q, exact)                 nearest resize, pixel_shuffle; q = in/out
#   ("lin", q, align_corners, taps)    linear / bilinear (taps 2), bicubic (taps 4)
#   ("adapt", size_in, size_out)       adaptive pool that is not a plain window
#   ("shift", offset, step)            slicing
Step = tuple


@dataclass(frozen=True)
class _State:
    dims: tuple[Dim, ...]
    fields: tuple[AxisField | None, ...]  # the local field per input axis; None: unknown
    global_from: int | None = None  # node id that made the unit see the whole input (the earliest)
    resampled: bool = False  # an upsampling op on the path: the numbers are a continuous approximation
    last_global: int = -1  # the latest global op on the local path: a merge input with a later one is context
    causal: bool = False  # global over the prefix only: every op that made it global was causal attention
    why: tuple[str | None, ...] = ()  # per input axis: why its field is None (an LS404 message)

    @property
    def spatial(self) -> bool:
        return any(d is not None for d in self.dims)

    def evolve(self, dims: tuple[Dim, ...], fields: tuple[AxisField | None, ...] | None = None,
               resampled: bool | None = None, why: tuple[str | None, ...] | None = None) -> "_State":
        return _State(dims, self.fields if fields is None else tuple(fields), self.global_from,
                      self.resampled if resampled is None else resampled, self.last_global, self.causal,
                      self.why if why is None else why)

    def reason(self, axis: int) -> str | None:
        return self.why[axis] if axis < len(self.why) else None


@dataclass(frozen=True)
class _Link:
    """How the state of a tensor was made from one traced input: the 1-D steps per axis (None: lost)."""

    src: Key
    local: bool  # on the local path (False: a global-context branch such as an SE gate)
    steps: tuple[tuple[Step, ...] | None, ...]
    const: tuple[bool, ...] = ()  # per axis: the input is broadcast along it (one unit for all)


# ============================================================================================ steps
def _forward_step(f: AxisField, step: Step) -> tuple[AxisField, bool]:
    """(new field, resampled) of one 1-D step."""
    kind = step[0]
    rf, j, st = f.rf, f.jump, f.start
    if kind == "win":
        _, ke, s, pl = step
        # rf += (k_eff-1)*jump; jump *= s; start += ((k_eff-1)/2 - p)*jump
        return AxisField(rf + (ke - 1) * j, j * s, st + (Fraction(ke - 1, 2) - pl) * j), False
    if kind == "tconv":
        _, ke, s, pl = step
        jo = j / s
        return AxisField(rf + (ke - 1) * jo, jo, st + (pl - Fraction(ke - 1, 2)) * jo), s != 1
    if kind == "shift":
        _, off, stp = step
        return AxisField(rf, j * stp, st + off * j), False
    if kind == "near":
        _, q, exact = step
        # out unit o reads floor(o*q) (nearest) or floor((o+1/2)*q) (nearest-exact): the fractional part
        # that floor drops is at most 1 - 1/den(q), so centres wander within that spread
        spread = 1 - Fraction(1, q.denominator)
        centre0 = (q / 2 if exact else 0) - spread / 2
        return AxisField(rf + spread * j, j * q, st + centre0 * j), spread != 0
    if kind == "lin":
        _, q, align, taps = step
        src0 = Fraction(0) if align else q / 2 - _HALF
        return AxisField(rf + (taps - 1) * j, j * q, st + src0 * j), True
    if kind == "adapt":
        _, n_in, n_out = step
        q = Fraction(n_in, n_out)
        kmax = max(math.ceil((i + 1) * q) - math.floor(i * q) for i in range(min(n_out, 64)))
        return AxisField(rf + (kmax - 1) * j, j * q, st + (q - 1) / 2 * j), True
    raise ValueError(kind)


def _backward_step(lo: int, hi: int, step: Step) -> tuple[int, int]:
    """Input index interval read by output units ``lo..hi`` (inclusive), the tensor taken as unbounded."""
    kind = step[0]
    if kind == "win":
        _, ke, s, pl = step
        return lo * s - pl, hi * s - pl + ke - 1
    if kind == "tconv":
        _, ke, s, pl = step
        # out o = i*s - p + t (t in 0..k_eff-1)  =>  i in [ceil((o + p - (k_eff-1))/s), floor((o + p)/s)]
        return -((-(lo + pl - (ke - 1))) // s), (hi + pl) // s
    if kind == "shift":
        _, off, stp = step
        a, b = off + lo * stp, off + hi * stp
        return (a, b) if a <= b else (b, a)
    if kind == "near":
        _, q, exact = step
        if exact:
            return math.floor((lo + _HALF) * q), math.floor((hi + _HALF) * q)
        return math.floor(lo * q), math.floor(hi * q)
    if kind == "lin":
        _, q, align, taps = step

        def src(o: int) -> Fraction:
            return o * q if align else max((o + _HALF) * q - _HALF, Fraction(0))  # torch clamps at 0

        a, b = src(lo), src(hi)
        first = math.floor(a) - (taps // 2 - 1)
        last = math.floor(b) + (taps // 2 if b != math.floor(b) else taps // 2 - 1)
        return first, last
    if kind == "adapt":
        _, n_in, n_out = step
        # window i of an adaptive pool: [floor(i*in/out), ceil((i+1)*in/out))
        return (lo * n_in) // n_out, -((-(hi + 1) * n_in) // n_out) - 1
    raise ValueError(kind)


def _window_step(w: WindowAxis) -> Step:
    if w.transposed:
        return ("tconv", w.effective_kernel, w.stride, w.padding[0])
    return ("win", w.effective_kernel, w.stride, w.padding[0])


# ============================================================================================ analysis
@dataclass(frozen=True)
class FieldAnalysis:
    """The result of one pass over a graph: a state per tensor, the links between them, the findings."""

    graph: Graph
    states: Mapping[Key, _State]
    links: Mapping[Key, tuple[_Link, ...]]
    input_size: tuple[int, ...]
    findings: tuple[Diagnostic, ...]
    units: str = "px"  # what one input position is (see ReceptiveField.units)

    @property
    def n_axes(self) -> int:
        return len(self.input_size)

    # ---------------------------------------------------------------- table rows
    def rows(self) -> dict[int, tuple[tuple, tuple, tuple]]:
        """``{node_id: (rf, jump, start)}`` for slot 0 of every node with a spatial field."""
        out: dict[int, tuple[tuple, tuple, tuple]] = {}
        if not self.n_axes:
            return out
        for (nid, slot), st in self.states.items():
            if slot != 0 or self.graph[nid].kind == "input":
                continue
            rf, jump, start = [], [], []
            for a, f in enumerate(st.fields):
                if st.global_from is not None:
                    e = self.input_size[a]
                    rf.append(e)
                    jump.append(_num(f.jump) if f is not None else None)
                    start.append(_num(Fraction(e - 1, 2)))
                elif f is None:
                    rf.append(None), jump.append(None), start.append(None)
                else:
                    rf.append(_num(f.rf)), jump.append(_num(f.jump)), start.append(_num(f.start))
            out[nid] = (tuple(rf), tuple(jump), tuple(start))
        return out

    # ---------------------------------------------------------------- exact per-unit boxes
    def exact_box(self, key: Key, axis: int, index: int) -> tuple[Fraction, Fraction] | None:
        """Input box ``[first, end)`` of unit ``index`` along ``axis`` by backward interval propagation.

        Only used where upsampling made the per-node numbers approximate; None when not needed or not
        possible (an axis lost on the way).
        """
        st = self.states.get(key)
        if st is None or not st.resampled:
            return None
        got = self._backward(key, axis, index)
        if got is None:
            return None
        if got[0] > got[1]:  # the unit reads no input pixel (a transposed conv's gap: only its bias)
            f = st.fields[axis]
            c = Fraction(math.floor(f.start + index * f.jump)) if f is not None else Fraction(0)
            return c, c
        return Fraction(got[0]), Fraction(got[1] + 1)

    def _backward(self, key: Key, axis: int, index: int) -> tuple[int, int] | None:
        pending: dict[Key, tuple[int, int]] = {key: (index, index)}
        result: tuple[int, int] | None = None
        lost = False
        for nid in range(key[0], -1, -1):
            node = self.graph[nid]
            for slot in range(max(1, len(node.outputs))):
                k = (nid, slot)
                iv = pending.pop(k, None)
                if iv is None:
                    continue
                if node.kind == "input":
                    result = iv if result is None else (min(result[0], iv[0]), max(result[1], iv[1]))
                    continue
                links = self.links.get(k, ())
                local = [ln for ln in links if ln.local] or list(links)
                for ln in local:
                    steps = ln.steps[axis] if axis < len(ln.steps) else None
                    if steps is None:
                        lost = True
                        continue
                    lo, hi = iv
                    if ln.const and ln.const[axis]:
                        lo = hi = 0
                    for step in reversed(steps):
                        lo, hi = _backward_step(lo, hi, step)
                        if lo > hi:  # e.g. a transposed conv unit fed by no input unit (only its bias)
                            break
                    if lo > hi:
                        continue
                    old = pending.get(ln.src)
                    pending[ln.src] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))
        if result is None:
            return None if lost else (1, 0)  # (1, 0): empty, the unit depends on no input pixel
        return result

    def _period_boxes(self, key: Key, axis: int, size: int) -> list[tuple[int, int]]:
        n = max(1, min(size, 64))
        first = max(0, size // 2 - n // 2)
        boxes = []
        for o in range(first, first + n):
            got = self._backward(key, axis, o)
            if got is not None and got[0] <= got[1]:
                boxes.append(got)
        return boxes

    # ---------------------------------------------------------------- public results
    def field(self, key: Key, name: str | None = None) -> ReceptiveField:
        """The :class:`ReceptiveField` of tensor ``key`` (node id, slot)."""
        st = self.states.get(key)
        node = self.graph[key[0]]
        name = name or node.name
        n = self.n_axes
        if st is None or not n:
            none = (None,) * n
            why = ("LS410", _NOT_REACHED) if n else (None, None)
            return ReceptiveField(name, none, none, none, False, None, none, none, self.input_size, False,
                                  self.units, False, *why)
        size, jump, start = [], [], []
        exact = True
        shape = node.outputs[key[1]].shape if key[1] < len(node.outputs) else ()
        for a, f in enumerate(st.fields):
            if f is None:
                size.append(None), jump.append(None), start.append(None)
                exact = False
                continue
            rf, j, s0 = f.rf, f.jump, f.start
            if st.resampled:
                d = st.dims.index(a) if a in st.dims else None
                boxes = self._period_boxes(key, a, shape[d]) if d is not None and d < len(shape) else []
                # unit 0's centre (or, if unit 0 reads no pixel, the first unit that does, moved back by jumps)
                box0 = None
                for o in range(min(shape[d], 16) if d is not None and d < len(shape) else 1):
                    got = self._backward(key, a, o)
                    if got is None:
                        break
                    if got[0] <= got[1]:
                        box0 = (got, o)
                        break
                if boxes and box0 is not None:
                    rf = Fraction(max(b[1] - b[0] + 1 for b in boxes))
                    (b0, b1), o = box0
                    s0 = Fraction(b0 + b1, 2) - o * j
                else:
                    exact = False
            size.append(rf), jump.append(j), start.append(s0)
        local_size = tuple(_num(x) for x in size)
        local_start = tuple(_num(x) for x in start)
        glob = st.global_from is not None
        lost = [a for a, x in enumerate(local_size) if x is None]
        why = next((st.reason(a) for a in lost if st.reason(a)), None)
        if lost and why is None:  # every path that loses a field records why: this is a bug, say it plainly
            why = "the field was lost on the way and no step recorded why"
        return ReceptiveField(
            name=name,
            size=tuple(self.input_size) if glob else local_size,
            jump=tuple(_num(x) for x in jump),
            start=tuple(_num(Fraction(e - 1, 2)) for e in self.input_size) if glob else local_start,
            is_global=glob, global_from=self.graph[st.global_from].name if glob else None,
            local_size=local_size, local_start=local_start, input_size=self.input_size, exact=exact,
            units=self.units, causal=glob and st.causal, reason_code="LS404" if lost else None,
            reason=why if lost else None, _analysis=self, _key=key,
        )

    def output_field(self, index: int = 0) -> ReceptiveField:
        """The field of the model's ``index``-th output."""
        outs = self.graph.outputs
        if not outs or outs[index].producer is None:
            from ..errors import ConfigError

            raise ConfigError("the model has no traced output (did the forward pass fail?)",
                              hint="see report.diagnostics", code="LS962")
        t = outs[index]
        return self.field((t.producer, t.slot))  # type: ignore[arg-type]

    def field_of(self, name: str) -> ReceptiveField:
        """The field of module ``name``'s output (a leaf node, a container scope, or an op node's name)."""
        t: TensorInfo | None = self.graph.scope_output(name)
        if t is None:
            node = self.graph.by_name(name)
            if node is not None and node.outputs:
                t = TensorInfo(node.outputs[0].shape, node.outputs[0].dtype, node.id, 0)
        if t is None or t.producer is None:
            import difflib

            from ..errors import ConfigError

            names = [n.name for n in self.graph] + [s.name for s in self.graph.scopes]
            close = difflib.get_close_matches(name, names, n=3)
            raise ConfigError(f"no module or node named {name!r} in the traced graph",
                              hint=f"did you mean {', '.join(close)}?" if close else "see report.table['name']",
                              code="LS963")
        return self.field((t.producer, t.slot), name)


# ============================================================================================ the pass
def analyze_fields(graph: Graph, *, spatial_dims: int | None = None) -> FieldAnalysis:
    """One pass over ``graph`` in execution order (a topological order of the data-flow edges).

    ``spatial_dims``: how many trailing dims of the inputs are spatial (default: ``ndim - 2`` for 3-d to 5-d
    inputs, i.e. 1 for sequences ``(N, C, L)``, 2 for images, 3 for volumes).
    """
    states: dict[Key, _State] = {}
    links: dict[Key, tuple[_Link, ...]] = {}
    findings: list[Diagnostic] = []
    succ: dict[int, list[int]] | None = None
    layout: dict[int, tuple[tuple[Dim, ...], str]] = {}  # input node -> (dims, units)
    for node in graph:
        if node.kind == "input" and node.outputs:
            shape = node.outputs[0].shape
            if spatial_dims is not None:
                n = max(0, min(spatial_dims, len(shape)))
                layout[node.id] = ((None,) * (len(shape) - n) + tuple(range(n)), "px")
            elif len(shape) == 3:
                succ = graph.successors() if succ is None else succ
                layout[node.id] = _sequence_layout(graph, node.id, succ, shape)
            elif len(shape) == 2 and "int" in node.outputs[0].dtype:
                layout[node.id] = ((None, 0), "tokens")  # token ids (N, T): one position per token
            else:
                n = len(shape) - 2 if 3 <= len(shape) <= 5 else 0
                layout[node.id] = ((None,) * (len(shape) - n) + tuple(range(n)), "px")
    # one kind of position per analysis: the inputs with the most axes set it (an image beside token ids: px)
    n_axes = max((sum(d is not None for d in dims) for dims, _ in layout.values()), default=0)
    units = next((u for dims, u in layout.values() if sum(d is not None for d in dims) == n_axes), "px")
    sizes = [0] * n_axes
    for nid, (dims, u) in list(layout.items()):
        if u != units or sum(d is not None for d in dims) != n_axes:
            layout[nid] = ((None,) * len(dims), u)
            continue
        shape = graph[nid].outputs[0].shape
        for d, a in enumerate(dims):
            if a is not None:
                sizes[a] = max(sizes[a], shape[d])
    for node in graph:
        if node.kind == "input":
            if not node.outputs:
                continue
            dims = layout[node.id][0]
            n = sum(d is not None for d in dims)
            fields = tuple(_UNIT if a < n else None for a in range(n_axes))
            states[(node.id, 0)] = _State(dims, fields)
            continue
        ins = [(i, t, states.get((t.producer, t.slot))) for i, t in enumerate(node.inputs)
               if t.producer is not None]
        ins = [(i, t, s) for i, t, s in ins if s is not None]
        if not ins or not n_axes:
            continue
        _Node(node, ins, n_axes, findings, graph).run(states, links)  # a bug here raises: never a silent LS404
    analysis = FieldAnalysis(graph, states, links, tuple(sizes), (), units)
    findings.extend(_exceeds(analysis))
    outs = graph.outputs
    if n_axes and outs and outs[0].producer is not None and (outs[0].producer, outs[0].slot) not in states:
        out = graph[outs[0].producer]
        findings.append(make("LS410", f"{out.name}: the output is not reached from a traced input along the "
                             f"{units} axis; its receptive field is unknown", hint=_NOT_REACHED, module=out.name,
                             source=out.source, node=out.id, severity="info"))
    return FieldAnalysis(graph, states, links, tuple(sizes), tuple(findings), units)


_NOT_REACHED = ("the output does not depend on a model input through traced ops (it is built from constants or "
                "parameters only, or the trace stopped before it)")


def _sequence_layout(graph: Graph, input_id: int, succ: Mapping[int, list[int]],
                     shape: tuple[int, ...]) -> tuple[tuple[Dim, ...], str]:
    """A 3-d input: ``(N, C, L)`` for a conv is a signal along its last dim, in frames (``samples`` for one
    channel); ``(N, L, E)`` tokens (a Linear, attention or a reshape reads it first) have their positions on dim
    1, in tokens (batch-first, as Hugging Face and ``batch_first=True`` layers take them)."""
    if _sequence_axes(graph, input_id, succ):
        return (None, None, 0), ("samples" if shape[1] == 1 else "frames")
    return (None, 0, None), "tokens"


def _sequence_axes(graph: Graph, input_id: int, succ: Mapping[int, list[int]]) -> int:
    """1 if a 3-d input is ``(N, C, L)`` for a conv (its first non-pointwise consumer slides a window), 0 if it
    is tokens ``(N, L, E)`` / ``(L, N, E)`` whose last dim is features (a Linear, attention, a reshape)."""
    frontier, seen = [input_id], {input_id}
    for _ in range(16):
        nxt = []
        for nid in frontier:
            for s in succ.get(nid, ()):
                if s in seen:
                    continue
                seen.add(s)
                ops = graph[s].ops
                kinds = {o.spatial for o in ops if not in_family(o.op, "norm")}
                if kinds & {"window", "resize", "adaptive"}:  # conv, pool, upsampling: a signal along L
                    return 1
                if kinds - {"pointwise"}:
                    return 0
                nxt.append(s)
        if not nxt:
            return 1
        frontier = nxt
    return 1


def per_node(graph: Graph) -> dict[int, tuple[tuple, tuple, tuple]]:
    """``{node_id: (rf, jump, start)}`` with one value per spatial axis (the node table's columns)."""
    return analyze_fields(graph).rows()


@analyzer("LS401", "LS402", "LS403", "LS404", "LS410", data=True)
def analyze_receptive_field(ctx: Any) -> AnalyzerResult:
    """Analyzer: LS401 jump mismatch and LS402 misaligned centres at merges, LS403 field exceeds input; the
    ``rf``/``jump``/``start`` columns (plus ``local_rf`` and ``global`` for the plots) and the ``fields``
    summary (:class:`~layerscope.fields.FieldSummary`) that the Report keeps for its renderers.

    Findings at a merge that already failed on shapes (its output was substituted) are dropped: the shape
    error says it all. The same finding along several axes is one diagnostic naming the axes."""
    an = analyze_fields(ctx.graph)
    return AnalyzerResult(tuple(_grouped_findings(an, ctx)), _columns(an), {"fields": summarize(an)})


def _grouped_findings(an: FieldAnalysis, ctx: Any) -> list[Diagnostic]:
    failed = {substituted_node(ctx.graph, f) for f in ctx.failures}
    grouped: dict[tuple, list[Diagnostic]] = {}
    for d in an.findings:
        if d.node is not None and d.node in failed and d.code in ("LS401", "LS402"):
            continue
        axis = d.data.get("axis")
        key = (d.code, d.node, d.message.replace(f"along {axis}", "along #") if axis else d.message)
        grouped.setdefault(key, []).append(d)
    out = []
    for (code, node, template), ds in grouped.items():
        if len(ds) == 1:
            out.append(ds[0])
            continue
        axes = [d.data["axis"] for d in ds]
        first = ds[0]
        out.append(make(code, template.replace("along #", "along " + " and ".join(axes)), hint=first.hint,
                        module=first.module, source=first.source, node=node, severity=first.severity,
                        **{**dict(first.data), "axis": axes}))
    return out


def _columns(an: FieldAnalysis) -> dict[int, dict[str, Any]]:
    """Per node (slot 0) with a state: the table's ``rf``/``jump``/``start`` (a global node shows the input
    extent as ``rf``), the ``local_rf`` of the convolutional path and whether the node is ``global``."""
    out: dict[int, dict[str, Any]] = {}
    for nid, (rf, jump, start) in an.rows().items():
        st = an.states[(nid, 0)]
        out[nid] = {"rf": rf, "jump": jump, "start": start,
                    "local_rf": tuple(None if f is None else _num(f.rf) for f in st.fields),
                    "global": st.global_from is not None}
    return out


def summarize(an: FieldAnalysis) -> FieldSummary:
    """The plain-data summary of ``an`` a Report keeps: the output's field and the boxes of a few units."""
    outs = an.graph.outputs
    output = an.output_field(0) if outs and outs[0].producer is not None else None
    target = _box_target(an)
    boxes: list[tuple[tuple[int, ...], Any]] = []
    if target is not None:
        rf, size = target
        picks = [tuple(0 for _ in size), tuple(s // 2 for s in size), tuple(s - 1 for s in size)]
        for u in dict.fromkeys(picks):
            try:
                boxes.append((u, rf.local_region(*u)))
            except ValueError:  # the field along an axis is unknown: no box to draw
                continue
    return FieldSummary(tuple(an.input_size), output, target[0] if target else None,
                        target[1] if target else (), tuple(boxes), _analysis=an)


def _box_target(an: FieldAnalysis) -> tuple[ReceptiveField, tuple[int, ...]] | None:
    """The field whose units the box plot draws and its output's spatial size (per axis).

    A global output (a classifier) has no positions left: take the last local tensor, the input of the node
    that made the field global.
    """
    outs = an.graph.outputs
    if not an.n_axes or not outs or outs[0].producer is None:
        return None
    key = (outs[0].producer, outs[0].slot)
    st = an.states.get(key)
    if st is None:
        return None
    if st.global_from is not None:
        node = an.graph[st.global_from]
        traced = [t for t in node.inputs if t.producer is not None and (t.producer, t.slot) in an.states]
        if not traced:
            return None
        key = (traced[0].producer, traced[0].slot)
        st = an.states[key]
    node = an.graph[key[0]]
    shape = node.outputs[key[1]].shape if key[1] < len(node.outputs) else ()
    sizes = []
    for a in range(an.n_axes):
        if a not in st.dims:
            return None
        sizes.append(shape[st.dims.index(a)])
    return an.field(key), tuple(sizes)


def _exceeds(an: FieldAnalysis) -> list[Diagnostic]:
    """LS403 at the first node (execution order) whose local field outgrows the input, per axis."""
    first: dict[int, tuple[int, Fraction]] = {}
    for (nid, slot), st in sorted(an.states.items()):
        if slot:
            continue
        for a, f in enumerate(st.fields):
            if f is not None and a not in first and f.rf > an.input_size[a] > 0:
                first[a] = (nid, f.rf)
    out = []
    names = spatial_axis_names(an.n_axes)
    by_node: dict[int, list[int]] = {}
    for a, (nid, _) in first.items():
        by_node.setdefault(nid, []).append(a)
    for nid, axes in sorted(by_node.items()):
        node = an.graph[nid]
        what = ", ".join(f"{names[a]}: {_num(first[a][1])} px > {an.input_size[a]} px" for a in axes)
        out.append(make(
            "LS403", f"{node.name}: the receptive field exceeds the input from here on ({what}); deeper units "
            "see zero padding on both sides",
            hint="expected for deep classifiers at small inputs; if the layers after this point are meant to "
                 "add context, a larger input (or fewer downsampling stages) gives them something to see",
            module=node.name, source=node.source, node=nid, axes=[names[a] for a in axes],
        ))
    return out


# ============================================================================================ per node
class _Node:
    """Applies one node's ops to the states of its traced inputs."""

    def __init__(self, node: Node, ins: list[tuple[int, TensorInfo, _State]], n_axes: int,
                 findings: list[Diagnostic], graph: Graph):
        self.node, self.ins, self.n_axes, self.findings, self.graph = node, ins, n_axes, findings, graph

    # ---------------------------------------------------------------- driver
    def run(self, states: dict[Key, _State], links: dict[Key, tuple[_Link, ...]]) -> None:
        node = self.node
        n_out = max(1, len(node.outputs))
        out_shapes = [t.shape for t in node.outputs] or [()]
        # every tracked input starts as "itself": identity steps on all axes
        # a state whose dims do not match its tensor's rank (an op with several outputs of different ranks, as
        # topk's values and indices after a reduction) is read with its positions folded, never indexed past the end
        cur = [(t.shape, s if len(s.dims) == len(t.shape) else s.evolve(_fold(s.dims, len(t.shape))),
                [_Link((t.producer, t.slot), True, tuple(() for _ in range(self.n_axes)))])  # type: ignore[arg-type]
               for _, t, s in self.ins]
        ops = node.ops
        if node.kind == "module" and any(in_family(o.op, "attention") for o in ops):
            result = [self._attention_module(cur, out_shapes)] * n_out
        elif not ops:
            result = [self._pointwise(cur, out_shapes[0])] * n_out
        elif node.kind == "op" or len(ops) == 1:
            result = self._apply(ops[0], cur, out_shapes)
        else:
            result = self._chain(ops, cur, out_shapes)
        for slot in range(n_out):
            shape, st, lks = result[min(slot, len(result) - 1)]
            if st is None:
                continue
            states[(node.id, slot)] = st
            links[(node.id, slot)] = tuple(lks)

    def _chain(self, ops: Sequence[OpRecord], cur: list, out_shapes: list) -> list:
        """A leaf module's forward ran several ops: follow the tensor that flows through them."""
        running = [self._pointwise(cur, cur[0][0])] if len(cur) > 1 else cur
        # every tensor of the chain derived from the input, by shape: an op may read an earlier one again
        # (RMSNorm: x * rsqrt(mean(x^2)) reads x after the mean)
        seen = {tuple(running[0][0]): running}
        used = False
        for i, op in enumerate(ops):
            shape = running[0][0]
            outs = [tuple(s) for s in op.outputs] or [shape]
            if in_family(op.op, "addmm") and len(op.inputs) >= 3 and tuple(op.inputs[1]) in seen:
                # addmm(bias, x, W): a Linear over x's last dim (Hugging Face's Conv1D)
                running = [self._channel(op, seen[tuple(op.inputs[1])], outs[0])]
                seen[tuple(outs[0])], used = running, True
                continue
            if not op.inputs or tuple(op.inputs[0]) not in seen:
                continue  # an op on a weight, a mask or a side tensor
            running = self._apply(op, seen[tuple(op.inputs[0])], outs)[:1]
            used = True
            if running[0][1] is None:
                break
            seen[tuple(running[0][0])] = running
        if not used and ops and tuple(cur[0][0]) != tuple(out_shapes[0]):
            # no op read the input (a rotary embedding takes x for its dtype only): the output does not depend on
            # the input's positions
            return [(out_shapes[0], None, [])]
        shape, st, lks = running[0]
        if st is not None and tuple(shape) != tuple(out_shapes[0]):
            st = self._resize_guess(st, shape, out_shapes[0], "module")
        return [(out_shapes[0], st, lks)]

    # ---------------------------------------------------------------- op dispatch
    def _apply(self, op: OpRecord, cur: list, out_shapes: list) -> list:
        kind = op.spatial
        out0 = tuple(out_shapes[0])
        if kind == "window" and op.windows is not None:
            return [self._window(op, cur, out0)]
        if kind == "pointwise" and self._lookup(cur, out0):
            shape, st, lks = cur[0]
            return [(out0, st.evolve(st.dims + (None,) * (len(out0) - len(shape))), lks)]
        if kind == "pointwise" or in_family(op.op, "norm"):
            return [self._pointwise(cur, out0)]
        if kind == "channel":
            return [self._channel(op, cur, out0)]
        if kind == "global":
            return [self._global(op, cur, out0)]
        if kind == "reduce":
            return [self._reduce(op, cur, out_shapes)] * len(out_shapes)
        if kind in ("resize", "adaptive"):
            return [self._resize(op, cur, out0)]
        if kind == "reshape":
            return [self._reshape(op, cur, out0)]
        if kind == "slice":
            return self._slice(op, cur, out_shapes)
        if kind == "concat":
            return [self._concat(op, cur, out0)]
        if kind == "sampled":
            return [self._sampled(op, cur, out0)]
        return [self._unknown(op, cur, out0)]

    def _lookup(self, cur: list, out_shape: tuple) -> bool:
        """An integer index tensor mapped to rows appended after its own dims (``embedding``, ``one_hot``):
        ``(N, T) -> (N, T, E)``; each position keeps its place (broadcasting never appends trailing dims)."""
        if len(cur) != 1 or len(self.ins) != 1 or "int" not in self.ins[0][1].dtype:
            return False
        shape = tuple(cur[0][0])
        return len(out_shape) > len(shape) and tuple(out_shape[:len(shape)]) == shape

    def _sampled(self, op: OpRecord, cur: list, out_shape: tuple) -> tuple:
        """grid_sample, roi_align...: the positions read are values (a grid, boxes): unknown, never guessed."""
        shape, st, lks = cur[0]
        axes = {a for d in st.dims if d is not None for a in ((d,) if isinstance(d, int) else d)}
        self.findings.append(make(
            "LS404", f"{self.node.name}: {op.op} reads the input at positions given by tensor values "
            f"({op.attrs.get('sampled_by', 'data')}); the receptive field is unknown after it",
            hint="the field depends on the data (e.g. the sampling grid), not on the architecture",
            module=self.node.name, source=self.node.source, node=self.node.id, severity="info"))
        return self._lose(st, lks, axes, _fold(st.dims, len(out_shape)), out_shape)

    # ---------------------------------------------------------------- helpers
    def _with_steps(self, lks: list[_Link], per_axis: Mapping[int, Step | None]) -> list[_Link]:
        """Append one step per axis to every link (None: the axis is lost)."""
        out = []
        for ln in lks:
            steps = list(ln.steps)
            for a, step in per_axis.items():
                if steps[a] is None:
                    continue
                steps[a] = None if step is None else steps[a] + (step,)
            out.append(_Link(ln.src, ln.local, tuple(steps), ln.const))
        return out

    def _advance(self, st: _State, lks: list[_Link], per_axis: Mapping[int, Step | None], dims: tuple[Dim, ...],
                 shape: tuple[int, ...], reason: str | None = None) -> tuple:
        fields = list(st.fields)
        why = list(st.why) + [None] * (self.n_axes - len(st.why))
        resampled = st.resampled
        for a, step in per_axis.items():
            f = fields[a]
            if f is None:
                continue
            if step is None:
                fields[a] = None
                why[a] = reason or self._why_lost(shape)
            else:
                fields[a], rs = _forward_step(f, step)
                resampled = resampled or rs
        return shape, st.evolve(dims, tuple(fields), resampled, tuple(why)), self._with_steps(lks, per_axis)

    def _why_lost(self, shape: tuple) -> str:
        """The reason a field is lost at this node: its LS404 message (one is emitted if none was yet)."""
        for d in reversed(self.findings):
            if d.code == "LS404" and d.node == self.node.id:
                return d.message
        ins = ", ".join(str(tuple(t.shape)) for _, t, _ in self.ins[:2])
        msg = (f"{self.node.name}: {self.node.type} rearranges positions ({ins} -> {tuple(shape)}) in a way the "
               "shapes do not prove (a permutation of equal-size dims, a split or merge of the position axis, "
               "a join along it); the receptive field is unknown from here on")
        self.findings.append(make("LS404", msg, hint="the field is reported as unknown (None) rather than guessed",
                                  module=self.node.name, source=self.node.source, node=self.node.id,
                                  severity="info"))
        return msg

    def _lose(self, st: _State, lks: list[_Link], axes: Iterable[int], dims: tuple[Dim, ...], shape,
              reason: str | None = None) -> tuple:
        return self._advance(st, lks, {a: None for a in axes}, dims, shape, reason)

    def _make_global(self, st: _State, lks: list[_Link], dims: tuple[Dim, ...], shape,
                     mixed: Sequence[Dim] | None = None, rest: Sequence[Dim] | None = None,
                     causal: bool = False) -> tuple:
        """Mixing positions: global, unless only partial folds are mixed while other positions stay apart
        (attention inside windows): then the extent is unknown, not global. ``causal``: causal attention mixes
        each position with the earlier ones only: global over the prefix (stays so only while every global op on
        the path is causal)."""
        mixed_c = [c for c in (mixed or ()) if c is not None]
        if mixed_c and all(isinstance(c, _Part) for c in mixed_c) and any(c is not None for c in (rest or ())):
            if not any(d.data.get("reason") == "window" for d in self.findings):  # once: it repeats per block
                self.findings.append(make(
                    "LS404", f"{self.node.name}: {self.node.type} mixes positions inside windows of a partitioned "
                    "map; the receptive field's extent is not followed through window partitions and is unknown "
                    "from here on", hint="the local field is reported as unknown (None) rather than guessed",
                    module=self.node.name, source=self.node.source, node=self.node.id, severity="info",
                    reason="window"))
            why = next(d.message for d in self.findings if d.data.get("reason") == "window")
            return self._lose(st, lks, {a for c in mixed_c for a in c}, dims, shape, why)
        g = st.global_from if st.global_from is not None else self.node.id
        causal = causal and (st.causal or st.global_from is None)
        return shape, _State(dims, st.fields, g, st.resampled, self.node.id, causal, st.why), lks

    # ---------------------------------------------------------------- categories
    def _window(self, op: OpRecord, cur: list, out_shape: tuple) -> tuple:
        shape, st, lks = cur[0] if len(cur) == 1 else self._pointwise(cur, cur[0][0])
        windows = op.windows or ()
        nd = len(st.dims)
        per_axis: dict[int, Step | None] = {}
        dims = list(st.dims)
        for w, d in zip(windows, range(nd - len(windows), nd)):
            content = st.dims[d]
            if isinstance(content, int):
                per_axis[content] = _window_step(w)
            elif isinstance(content, frozenset):
                for a in content:
                    per_axis[a] = None
        if len(out_shape) != nd:
            dims = list(_align(tuple(shape), out_shape, tuple(dims)))
        return self._advance(st, lks, per_axis, tuple(dims), out_shape)

    def _pointwise(self, cur: list, out_shape: tuple) -> tuple:
        if len(cur) == 1:
            shape, st, lks = cur[0]
            if len(shape) == len(out_shape):
                return out_shape, st, lks
            return self._broadcast_one(cur[0], out_shape)
        return self._merge([self._broadcast_one(c, out_shape) for c in cur], out_shape)

    def _broadcast_one(self, c: tuple, out_shape: tuple) -> tuple:
        """Right-align a tensor to the broadcast output; mark axes along which it is one unit for all."""
        shape, st, lks = c
        shape = tuple(shape)
        pad = len(out_shape) - len(shape)
        if pad < 0:
            return c
        dims = (None,) * pad + st.dims
        const = [False] * self.n_axes
        for d, content in enumerate(dims):
            if isinstance(content, int) and d >= pad and shape[d - pad] == 1 and out_shape[d] > 1:
                const[content] = True
        if any(const):
            lks = [_Link(ln.src, ln.local, ln.steps, tuple(a or b for a, b in
                                                            zip(ln.const or (False,) * self.n_axes, const)))
                   for ln in lks]
        return out_shape, st.evolve(dims), lks

    def _merge(self, cur: list, out_shape: tuple, *, check: bool = True) -> tuple:
        """The union of the inputs' fields; warn when jumps differ or centres do not line up."""
        glob = [c for c in cur if c[1].global_from is not None]
        # the local path is the input(s) whose latest global op is oldest: an input pooled more recently (an SE
        # gate, an ASPP image-pooling branch) is a global-context branch of this merge
        base = min(c[1].last_global for c in cur)
        local = [c for c in cur if c[1].last_global == base]
        g = min((c[1].global_from for c in glob), default=None)  # the earliest node that made it global
        dims = max(cur, key=lambda c: sum(d is not None for d in c[1].dims))[1].dims
        fields: list[AxisField | None] = []
        why: list[str | None] = [None] * self.n_axes
        for a in range(self.n_axes):
            if any(c[1].fields[a] is None for c in local):
                fields.append(None)  # one branch's field is unknown: so is the union
                why[a] = next((c[1].reason(a) for c in local if c[1].fields[a] is None and c[1].reason(a)), None)
                continue
            cands = []
            for c in local:
                f = c[1].fields[a]
                if any(ln.const and ln.const[a] for ln in c[2]) and len(local) > 1:
                    continue  # broadcast along this axis: one unit for all positions, no alignment to check
                cands.append((c, f))
            if not cands:
                fields.append(None if any(c[1].fields[a] is None for c in local) else
                              (local[0][1].fields[a]))
                continue
            jumps = {f.jump for _, f in cands}
            if len(jumps) > 1:
                best = max(cands, key=lambda cf: cf[1].rf)[1]
                fields.append(best)
                if check:
                    self._finding("LS401", a, cands)
                continue
            lo = min(f.lo for _, f in cands)
            hi = max(f.hi for _, f in cands)
            fields.append(AxisField(hi - lo + 1, cands[0][1].jump, (lo + hi) / 2))
            if check and len({f.start for _, f in cands}) > 1 and not all(self._phase(c) for c, _ in cands):
                self._finding("LS402", a, cands)
        lks = []
        local_ids = {id(c) for c in local}
        for c in cur:
            lks.extend(_Link(ln.src, ln.local and id(c) in local_ids, ln.steps, ln.const) for ln in c[2])
        resampled = any(c[1].resampled for c in local)
        causal = bool(glob) and all(c[1].causal for c in glob)
        return out_shape, _State(dims, tuple(fields), g, resampled, base, causal, tuple(why)), lks

    def _phase(self, c: tuple) -> bool:
        """The input comes straight from a strided slice: offsets between such branches are intended
        (space-to-depth, as in Swin's patch merging or YOLOv5's Focus), not a misalignment."""
        srcs = [ln.src for ln in c[2]]
        return bool(srcs) and all(
            self.graph[s[0]].kind == "op" and bool(self.graph[s[0]].ops) and
            self.graph[s[0]].ops[0].spatial == "slice" for s in srcs)

    def _finding(self, code: str, axis: int, cands: list) -> None:
        node = self.node
        axis_name = spatial_axis_names(self.n_axes)[axis]
        parts = []
        for c, f in cands:
            src = c[2][0].src if c[2] else None
            who = self.graph[src[0]].name if src is not None else "?"
            parts.append(f"{who} (rf {_num(f.rf)}, jump {_num(f.jump)}, centre {_num(f.start)})")
        branches = [p.split(" (")[0] for p in parts]
        if code == "LS401":
            msg = (f"{node.name}: merged inputs step through the input at different rates along {axis_name}: "
                   + "; ".join(parts))
            hint = ("units that are added or concatenated should sample the input on the same grid; check the "
                    "strides/upsampling of these branches")
        else:
            offsets = sorted({f.start for _, f in cands})
            msg = (f"{node.name}: merged inputs are not centred on the same input pixel along {axis_name} "
                   f"(centres differ by {_num(offsets[-1] - offsets[0])} px): " + "; ".join(parts))
            hint = ("asymmetric padding or an even kernel on one branch shifts its grid; pad symmetrically or "
                    "use odd kernels so both branches see the same place (Araujo et al. 2019, alignment)")
        severity = None
        if any(getattr(c[1], "resampled", False) for c, _ in cands):
            # an upsampled branch merged with a skip (U-Net, FPN): nearest/bilinear x2 steps shift centres by half
            # the coarse jump, and align_corners or odd sizes give fractional jumps. A geometric fact of every
            # such decoder, not a bug: info, so that `check --fail-on warning` passes a textbook decoder (issue 13)
            severity = "info"
            msg += " (expected where an upsampled branch meets a skip connection, as in U-Net/FPN decoders)"
            hint = ("nothing to fix for a standard decoder; if exact alignment matters, upsample with "
                    "align_corners=True to sizes that are (n-1)*2+1, or a transposed conv whose padding centres it")
        self.findings.append(make(code, msg, hint=hint, module=node.name, source=node.source, node=node.id,
                                  severity=severity, axis=axis_name, branches=branches))

    def _channel(self, op: OpRecord, cur: list, out_shape: tuple) -> tuple:
        shape, st, lks = cur[0] if len(cur) == 1 else self._merge(
            [self._broadcast_one(c, c[0]) for c in cur], cur[0][0], check=False)
        dims = st.dims[:-1] + (None,) if st.dims else st.dims
        if len(dims) != len(out_shape):
            dims = _align(tuple(shape), out_shape, st.dims)
        if st.dims and st.dims[-1] is not None:
            # a Linear over positions (flattened map, or a spatial last dim): every output sees them all
            return self._make_global(st, lks, dims, out_shape, st.dims[-1:], st.dims[:-1])
        return out_shape, st.evolve(dims), lks

    def _global(self, op: OpRecord, cur: list, out_shape: tuple) -> tuple:
        name = op.op
        if in_family(name, "adaptive_pool"):
            shape, st, lks = cur[0]
            # how many trailing dims it pools: the rule records one output size per pooled dim
            n = len(op.attrs.get("output_size") or ()) or len(out_shape) - 2
            pooled = st.dims[len(st.dims) - n:]
            dims = st.dims if len(st.dims) == len(out_shape) else _align(tuple(shape), out_shape, st.dims)
            if any(d is not None for d in pooled):
                return self._make_global(st, lks, dims, out_shape, pooled, st.dims[:len(st.dims) - n])
            return out_shape, st.evolve(dims), lks
        if in_family(name, "matmul") and len(self.node.inputs) >= 2:
            return self._matmul(cur, out_shape, _causal(op))
        if has_fact(name, "qkv"):
            return self._sdpa(cur, out_shape, _causal(op))
        if in_family(name, "einsum"):
            got = self._einsum(op, cur, out_shape)
            if got is not None:
                return got
        # mixes everything it is given (attention, addmm on positions...): global if positions are involved
        shape, st, lks = cur[0] if len(cur) == 1 else self._merge(cur, tuple(cur[0][0]), check=False)
        dims = st.dims if len(st.dims) == len(out_shape) else _fold(st.dims, len(out_shape))
        if any(c[1].spatial for c in cur):
            return self._make_global(st, lks, dims, out_shape)
        return out_shape, st.evolve(dims), lks

    def _operand(self, k: int, cur: list) -> tuple | None:
        """The state of the node's k-th tensor input if it is traced (None: a weight or a constant)."""
        t = self.node.inputs[k] if k < len(self.node.inputs) else None
        if t is None or t.producer is None:
            return None
        for (i, ti, s), c in zip(self.ins, cur):
            if i == k:
                return c
        return None

    def _matmul(self, cur: list, out_shape: tuple, causal: bool = False) -> tuple:
        a, b = self._operand(0, cur), self._operand(1, cur)
        da = a[1].dims if a else (None,) * len(self.node.inputs[0].shape)
        db = b[1].dims if b else (None,) * len(self.node.inputs[1].shape)
        contracted = (da[-1] if da else None, db[-2] if len(db) >= 2 else (db[0] if db else None))
        nd = len(out_shape)
        if len(da) >= 2 and len(db) >= 2:
            batch = da[:-2] if len(da) >= len(db) else db[:-2]
            dims = (batch + (da[-2], db[-1]))[-nd:] if nd else ()
        else:
            dims = _fold(tuple(d for d in da[:-1] + db[:-2] + db[-1:] if d is not None), nd)
        dims = tuple(dims) + (None,) * (nd - len(dims))
        parts = [c for c in (a, b) if c is not None]
        _, st, lks = parts[0] if len(parts) == 1 else self._merge(
            [(c[0], c[1].evolve(c[1].dims[-nd:] if len(c[1].dims) >= nd else c[1].dims), c[2]) for c in parts],
            out_shape, check=False)
        if any(d is not None for d in contracted):  # a sum over positions: attention's A @ V
            return self._make_global(st, lks, dims, out_shape, contracted, dims, causal)
        return out_shape, st.evolve(dims), lks

    def _sdpa(self, cur: list, out_shape: tuple, causal: bool = False) -> tuple:
        q, k, v = (self._operand(i, cur) for i in range(3))
        parts = [c for c in (q, k, v) if c is not None]
        _, st, lks = parts[0] if len(parts) == 1 else self._merge(parts, out_shape, check=False)
        dims = q[1].dims if q is not None and len(q[1].dims) == len(out_shape) else _fold(st.dims, len(out_shape))
        over_positions = any(c is not None and len(c[1].dims) >= 2 and c[1].dims[-2] is not None for c in (k, v))
        if over_positions:
            return self._make_global(st, lks, dims, out_shape, [c[1].dims[-2] for c in (k, v) if c is not None],
                                     dims, causal)
        return out_shape, st.evolve(dims), lks

    def _einsum(self, op: OpRecord, cur: list, out_shape: tuple) -> tuple | None:
        eq = str(op.attrs.get("equation", "")).replace(" ", "")
        if "->" not in eq or "..." in eq:
            return None
        lhs, rhs = eq.split("->")
        terms = lhs.split(",")
        operands = [self._operand(i + 1, cur) for i in range(len(terms))]  # input 0 is the equation string
        if not any(operands):
            operands = [self._operand(i, cur) for i in range(len(terms))]
        letters: dict[str, Dim] = {}
        contracted: list[Dim] = []
        for term, c in zip(terms, operands):
            if c is None or len(term) != len(c[1].dims):
                continue
            for ch, d in zip(term, c[1].dims):
                if d is not None:
                    letters.setdefault(ch, d)
                    if ch not in rhs:
                        contracted.append(d)
        dims = tuple(letters.get(ch) for ch in rhs)
        parts = [c for c in operands if c is not None]
        if not parts:
            return None
        _, st, lks = parts[0] if len(parts) == 1 else self._merge(parts, out_shape, check=False)
        if contracted:
            return self._make_global(st, lks, dims, out_shape, contracted, dims)
        return out_shape, st.evolve(dims), lks

    def _attention_module(self, cur: list, out_shapes: list) -> tuple:
        shape, st, lks = cur[0] if len(cur) == 1 else self._merge(cur, tuple(cur[0][0]), check=False)
        out = tuple(out_shapes[0])
        dims = st.dims if tuple(shape) == out else _fold(st.dims, len(out))
        if any(c[1].spatial for c in cur):
            causal = any(_causal(o) for o in self.node.ops if in_family(o.op, "attention"))
            return self._make_global(st, lks, dims, out, causal=causal)
        return out, st, lks

    def _reduce(self, op: OpRecord, cur: list, out_shapes: list) -> tuple:
        shape, st, lks = cur[0]
        nd = len(st.dims)
        dim = op.attrs.get("dim")
        if dim is None:
            reduced = set(range(nd))
        else:
            try:
                reduced = {int(d) % nd for d in (dim if isinstance(dim, (list, tuple)) else [dim])} if nd else set()
            except (TypeError, ValueError):
                reduced = set(range(nd))
        out = tuple(out_shapes[0])
        if len(out) == nd:
            dims = st.dims
        elif len(out) == nd - len(reduced):
            dims = tuple(d for i, d in enumerate(st.dims) if i not in reduced)
        else:
            dims = _fold(st.dims, len(out))
        if any(st.dims[d] is not None for d in reduced if d < nd):
            # softmax / mean / max over positions: every output depends on all of them (a softmax of scores
            # under a causal mask: on the earlier ones)
            return self._make_global(st, lks, dims, out, [st.dims[d] for d in reduced if d < nd],
                                     [c for i, c in enumerate(st.dims) if i not in reduced], _causal(op))
        return out, st.evolve(dims), lks

    def _resize(self, op: OpRecord, cur: list, out_shape: tuple) -> tuple:
        shape, st, lks = cur[0]
        shape = tuple(shape)
        nd = len(st.dims)
        if len(out_shape) != nd:
            return self._resize_guess(st, shape, out_shape, op.op), st, lks
        per_axis: dict[int, Step | None] = {}
        mode = str(op.attrs.get("mode", "nearest"))
        align = bool(op.attrs.get("align_corners", False))
        for d in range(nd):
            content = st.dims[d]
            if content is None or shape[d] == out_shape[d]:
                continue
            if isinstance(content, frozenset):
                per_axis.update({a: None for a in content})
                continue
            n_in, n_out = shape[d], out_shape[d]
            if op.spatial == "adaptive" or mode == "area":
                per_axis[content] = ("adapt", n_in, n_out) if n_in % n_out else ("win", n_in // n_out,
                                                                                    n_in // n_out, 0)
            elif in_family(op.op, "shuffle") or mode in ("nearest", "nearest-exact"):
                per_axis[content] = ("near", Fraction(n_in, n_out), mode == "nearest-exact")
            elif mode in ("linear", "bilinear", "trilinear", "bicubic"):
                q = Fraction(n_in - 1, n_out - 1) if align and n_out > 1 else Fraction(n_in, n_out)
                per_axis[content] = ("lin", q, align, 4 if mode == "bicubic" else 2)
            else:
                per_axis[content] = None
        return self._advance(st, lks, per_axis, st.dims, out_shape)

    def _resize_guess(self, st: _State, shape: tuple, out_shape: tuple, what: str) -> _State:
        """Shapes changed in a way we cannot follow: keep what the sizes prove, lose the rest."""
        dims = _align(tuple(shape), tuple(out_shape), st.dims)
        kept = {d for d in dims if isinstance(d, int)}
        fields = tuple(f if a in kept else None for a, f in enumerate(st.fields))
        why = list(st.why) + [None] * (self.n_axes - len(st.why))
        for a, (old, new) in enumerate(zip(st.fields, fields)):
            if old is not None and new is None:
                why[a] = self._why_lost(tuple(out_shape))
        return st.evolve(dims, fields, why=tuple(why))

    def _reshape(self, op: OpRecord, cur: list, out_shape: tuple) -> tuple:
        shape, st, lks = cur[0]
        shape = tuple(shape)
        perm = op.attrs.get("perm")
        if perm is not None and len(perm) == len(st.dims):
            return out_shape, st.evolve(tuple(st.dims[p] for p in perm)), lks
        if in_family(op.op, "expand"):
            return self._broadcast_one((shape, st, lks), out_shape)
        opaque = in_family(op.op, "opaque_layout")
        if opaque or in_family(op.op, "permute"):
            if shape == out_shape and not opaque and len(set(shape)) == len(shape):
                return out_shape, st, lks  # a no-op permutation
            axes = {a for d in st.dims if d is not None for a in ((d,) if isinstance(d, int) else d)}
            return self._lose(st, lks, axes, _fold(st.dims, len(out_shape)), out_shape)
        dims = _align(shape, out_shape, st.dims)
        return out_shape, st.evolve(dims), lks

    def _slice(self, op: OpRecord, cur: list, out_shapes: list) -> list:
        shape, st, lks = cur[0]
        shape = tuple(shape)
        attrs = op.attrs
        nd = len(st.dims)
        results = []
        if "index" in attrs:
            got = _getitem(attrs["index"], shape, st.dims)
            if got is not None:
                dims, shifts = got
                return [self._shifted(st, lks, shifts, dims, tuple(out_shapes[0]))]
        elif "dim" in attrs and nd:
            d = int(attrs["dim"]) % nd
            content = st.dims[d]
            offset = 0
            for out in out_shapes:
                out = tuple(out)
                drop = len(out) == nd - 1
                dims = st.dims[:d] + st.dims[d + 1:] if drop else st.dims
                start = int(attrs.get("start", offset))
                shifts = {d: (start, 1)} if content is not None else {}
                results.append(self._shifted(st, lks, shifts, dims, out))
                offset += 1 if drop else (out[d] if d < len(out) else 1)
            return results
        # no attributes: fine when no spatial dim changed size
        for out in out_shapes:
            out = tuple(out)
            if len(out) == nd and all(out[d] == shape[d] for d in range(nd) if st.dims[d] is not None):
                results.append((out, st, lks))
            else:
                results.append((out, self._resize_guess(st, shape, out, op.op), lks))
        return results

    def _shifted(self, st: _State, lks: list, shifts: Mapping[int, tuple[int, int]], dims: tuple, out: tuple):
        per_axis: dict[int, Step | None] = {}
        for d, (off, step) in shifts.items():
            content = st.dims[d]
            if isinstance(content, int):
                per_axis[content] = ("shift", off, step) if step > 0 else None
            # along a folded dim (tokens) every element keeps its own field: nothing to shift
        return self._advance(st, lks, per_axis, dims, out)

    def _concat(self, op: OpRecord, cur: list, out_shape: tuple) -> tuple:
        nd = len(out_shape)
        dim = op.attrs.get("dim", 0)
        try:
            d = int(dim) % nd if nd else 0
        except (TypeError, ValueError):
            return self._unknown(op, cur, out_shape)
        if has_fact(op.op, "new_dim"):
            cur = [(tuple(s[:d]) + (1,) + tuple(s[d:]), st.evolve(st.dims[:d] + (None,) + st.dims[d:]), lks)
                   for s, st, lks in cur]
        elif len(cur) == 1 and all(t.producer is not None or t.numel == 0 for t in self.node.inputs):
            return out_shape, cur[0][1], cur[0][2]  # joined with empty tensors only (an empty KV cache)
        else:
            # joined along an affine spatial axis: positions of the later parts are shifted, unknown here
            # (along a folded dim, e.g. tokens after a class token, every element keeps its own field)
            lost = {st.dims[d] for _, st, _ in cur if d < len(st.dims) and isinstance(st.dims[d], int)}
            if lost:
                merged = self._merge(cur, out_shape, check=False) if len(cur) > 1 else cur[0]
                return self._lose(merged[1], merged[2], lost, merged[1].dims, out_shape)
        if len(cur) == 1:
            return out_shape, cur[0][1], cur[0][2]
        # concatenation is a merge along channels: each input's own size on the cat dim is not a broadcast
        aligned = [(out_shape, c[1], c[2]) for c in cur]
        return self._merge(aligned, out_shape)

    def _unknown(self, op: OpRecord, cur: list, out_shape: tuple) -> tuple:
        shape, st, lks = cur[0] if len(cur) == 1 else self._merge(cur, tuple(cur[0][0]), check=False)
        if tuple(shape) == tuple(out_shape):
            self.findings.append(make(
                "LS404", f"{self.node.name}: op {op.op!r} has no receptive-field rule; assumed pointwise "
                "(it keeps the shape)", hint="if it mixes positions, the receptive field after it is too small",
                module=self.node.name, source=self.node.source, node=self.node.id, severity="info"))
            return out_shape, st, lks
        axes = {a for d in st.dims if d is not None for a in ((d,) if isinstance(d, int) else d)}
        self.findings.append(make(
            "LS404", f"{self.node.name}: op {op.op!r} has no receptive-field rule and changes the shape "
            f"{tuple(shape)} -> {tuple(out_shape)}; the receptive field is unknown after it",
            hint="add a window/resize rule for this op in layerscope.rules", module=self.node.name,
            source=self.node.source, node=self.node.id, severity="info"))
        return self._lose(st, lks, axes, _fold(st.dims, len(out_shape)), out_shape)


def _causal(op: OpRecord) -> bool:
    """The op mixes positions causally: SDPA's ``is_causal``, or a tensor of the call carries a causal mask (the
    tracer recognizes one from how it was built, see :mod:`layerscope.tracing.masks`)."""
    return bool(op.attrs.get("is_causal") or op.attrs.get("causal_mask"))


# ============================================================================================ layout
def _fold(dims: tuple[Dim, ...], n: int) -> tuple[Dim, ...]:
    """Every spatial axis folded into an ``n``-dim tensor whose layout we cannot follow."""
    axes = frozenset(a for d in dims if d is not None for a in ((d,) if isinstance(d, int) else d))
    if not axes:
        return (None,) * n
    return (None,) * max(0, n - 1) + (axes,) if n else ()


def _align(a: tuple[int, ...], b: tuple[int, ...], dims: tuple[Dim, ...]) -> tuple[Dim, ...]:
    """The dims of a reshape ``a -> b``: groups of dims with equal products, in memory order.

    A dim that maps alone to a dim of the same size keeps its axis; dims merged or split together fold
    their axes (the positions are then not an affine function of one index).
    """
    if len(dims) != len(a):
        return _fold(dims, len(b))
    out: list[Dim] = [None] * len(b)
    i = j = 0
    while i < len(a) or j < len(b):
        if i < len(a) and j < len(b) and a[i] == b[j]:
            out[j] = dims[i]
            i, j = i + 1, j + 1
        elif i < len(a) and a[i] == 1:
            i += 1  # a size-1 dim dropped (squeeze)
        elif j < len(b) and b[j] == 1:
            j += 1  # a size-1 dim inserted (unsqueeze)
        elif i < len(a) and j < len(b):
            gi, gj = [i], [j]
            pa, pb = a[i], b[j]
            i, j = i + 1, j + 1
            while pa != pb:
                if pa < pb and i < len(a):
                    pa *= a[i]
                    gi.append(i)
                    i += 1
                elif pb < pa and j < len(b):
                    pb *= b[j]
                    gj.append(j)
                    j += 1
                else:
                    return _fold(dims, len(b))
            if len(gj) == 1 and all(isinstance(dims[k], int) or dims[k] is None for k in gi) \
                    and any(isinstance(dims[k], int) for k in gi):
                # (H, W) -> H*W tokens, in order; (N, T) -> N*T rows (a batch dim folded in, as Linear-by-addmm does)
                out[gj[0]] = _Flat([(dims[k], a[k]) for k in gi])
                continue
            flat = dims[gi[0]] if len(gi) == 1 else None
            if isinstance(flat, _Flat) and tuple(b[k] for k in gj) == tuple(n for _, n in flat.layout):
                for k, (axis, _) in zip(gj, flat.layout):  # tokens -> (H, W) again: the same layout back
                    out[k] = axis
                continue
            axes = frozenset(x for k in gi if dims[k] is not None
                             for x in ((dims[k],) if isinstance(dims[k], int) else dims[k]))
            # split over several dims (or already partial): each holds only part of the positions
            partial = len(gj) > 1 or any(isinstance(dims[k], _Part) for k in gi)
            for k in gj:
                out[k] = (_Part(axes) if partial else axes) if axes else None
        else:
            return _fold(dims, len(b))
    return tuple(out)


def _getitem(index: Sequence[Sequence[Any]], shape: tuple[int, ...], dims: tuple[Dim, ...]):
    """(output dims, {input dim: (offset, step)}) of ``x[index]`` with basic indexing, or None."""
    consuming = sum(1 for it in index if it[0] in ("int", "slice"))
    out_dims: list[Dim] = []
    shifts: dict[int, tuple[int, int]] = {}
    d = 0
    for it in index:
        kind = it[0]
        if kind == "ellipsis":
            for _ in range(len(shape) - consuming):
                out_dims.append(dims[d])
                d += 1
        elif kind == "none":
            out_dims.append(None)
        elif kind == "int":
            if d >= len(shape):
                return None
            shifts[d] = (int(it[1]) % shape[d], 1)
            d += 1
        elif kind == "slice":
            if d >= len(shape):
                return None
            start, stop, step = slice(*it[1:]).indices(shape[d])
            if (start, step) != (0, 1):
                shifts[d] = (start, step)
            out_dims.append(dims[d])
            d += 1
        else:
            return None
    out_dims.extend(dims[d:])
    return tuple(out_dims), shifts


ANALYSES["receptive_field"] = analyze_fields  # exact queries on fields read back from JSON (layerscope.fields)
