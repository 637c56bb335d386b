"""Shapes: the output-size formula of every sliding-window op, checked against the traced shape."""

from __future__ import annotations

from ..diagnostics import Diagnostic, make
from ..geometry import WindowAxis
from ..graph import Graph, Node, OpRecord
from ..rules.table import in_family
from ..codes import TRACE_FAILURES
from .context import AnalyzerResult, Context, analyzer

_AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def window_ops(node: Node) -> list[OpRecord]:
    return [o for o in node.ops if o.windows is not None and o.spatial == "window"]


def op_formula(op: OpRecord) -> str:
    """``(224 + 2*3 - 1*(7-1) - 1)//2 + 1 = 112``, or one formula per axis where the axes differ."""
    assert op.windows is not None
    formulas = [w.formula for w in op.windows]
    if len(set(formulas)) == 1:
        return formulas[0]
    names = _AXIS_NAMES.get(len(formulas), tuple(f"d{i}" for i in range(len(formulas))))
    return "; ".join(f"{n}: {f}" for n, f in zip(names, formulas))


def node_formula(node: Node) -> str:
    ops = [o for o in window_ops(node) if not in_family(o.op, "pad")] or window_ops(node)
    return " -> ".join(op_formula(o) for o in ops)


@analyzer(data=True)
def analyze_formulas(ctx: Context) -> AnalyzerResult:
    """The ``formula`` column: every node's output-size arithmetic (empty where it slides no window)."""
    return AnalyzerResult(columns={n.id: {"formula": node_formula(n)} for n in ctx.graph if n.kind != "input"})


@analyzer("LS111", "LS112")
def analyze_windows(ctx: Context) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for node in ctx.graph:
        for op in window_ops(node):
            if in_family(op.op, "pad") or not op.outputs:
                continue
            windows: tuple[WindowAxis, ...] = op.windows  # type: ignore[assignment]
            traced = op.outputs[0][-len(windows):]
            predicted = tuple(w.size_out for w in windows)
            if tuple(traced) != predicted:
                out.append(make(
                    "LS111",
                    f"{node.name}: {op.op} formula gives {predicted} but PyTorch produced {tuple(traced)} "
                    f"({op_formula(op)})",
                    hint="layerscope's rule for this op disagrees with PyTorch; please report it",
                    module=node.name, source=node.source, node=node.id,
                ))
            dropped = [w.dropped for w in windows]
            if any(dropped):
                # a pad right before the window (BlurPool, the BiT stem): the dropped pixels are padding first
                extra = _explicit_right_pad(ctx.graph, node, op, len(windows))
                dropped = [max(0, d - e) for d, e in zip(dropped, extra)]
            if any(dropped):
                names = _AXIS_NAMES.get(len(windows), tuple(f"d{i}" for i in range(len(windows))))
                lost = ", ".join(f"{d} px of {n} (size {w.size_in})" for n, d, w in zip(names, dropped, windows) if d)
                out.append(make(
                    "LS112",
                    f"{node.name}: {op.op} with kernel {tuple(w.kernel for w in windows)}, stride "
                    f"{tuple(w.stride for w in windows)} drops the last {lost}: floor division leaves them "
                    f"outside every window ({op_formula(op)})",
                    hint="choose an input size for which (size + 2p - k) is divisible by the stride, or pad",
                    module=node.name, source=node.source, node=node.id,
                    dropped=dropped,
                ))
    return out


def _explicit_right_pad(graph: Graph, node: Node, op: OpRecord, n: int) -> list[int]:
    """Per window axis, the right padding an explicit ``pad`` op added just before ``op`` (0 where none):
    the op before it in the same node (``F.pad`` then conv in one module), else the producer of the node's input
    when that node ends in a pad (``nn.ConstantPad2d`` then ``nn.MaxPool2d``)."""
    pad: OpRecord | None = None
    i = next((k for k, o in enumerate(node.ops) if o is op), -1)
    if i > 0:
        prev = node.ops[i - 1]
        pad = prev if prev.op == "pad" and prev.windows and prev.outputs and op.inputs \
            and tuple(prev.outputs[0]) == tuple(op.inputs[0]) else None
    elif i == 0 and node.inputs and node.inputs[0].producer is not None and node.inputs[0].producer < len(graph):
        src = graph[node.inputs[0].producer]
        last = src.ops[-1] if src.ops else None
        if last is not None and last.op == "pad" and last.windows:
            pad = last
    if pad is None or not pad.windows:
        return [0] * n
    m = len(pad.windows)
    # the pad's windows are its padded dims in order; both cover the trailing dims of the tensor
    return [pad.windows[j - (n - m)].padding[1] if j - (n - m) >= 0 else 0 for j in range(n)]


def describe_operand(graph: Graph, t) -> str:
    """``(1, 64, 28, 28) from layer1.0.conv2`` for a TensorInfo."""
    origin = graph[t.producer].name if t.producer is not None and t.producer < len(graph) else "a constant"
    return f"{tuple(t.shape)} from {origin}"


@analyzer(TRACE_FAILURES)  # LS101-LS108 through explain.explain_failure
def analyze_failures(ctx: Context) -> list[Diagnostic]:
    """A generic LS100 per failure; ``layerscope.analysis.explain`` refines known shape bugs."""
    from .explain import explain_failure

    out: list[Diagnostic] = []
    substituted: set[int] = set()
    for i, failure in enumerate(ctx.failures):
        diag = explain_failure(ctx.graph, failure)
        if diag is None:
            names = getattr(failure, "extra", {}).get("operand_names") or []
            operands = "; ".join(
                f"{tuple(t.shape)} from parameter {names[i]}" if i < len(names) and names[i]
                else describe_operand(ctx.graph, t) for i, t in enumerate(failure.operands))
            where = f" in {failure.module}" if failure.module else ""
            if failure.module and failure.module_type and failure.op == "forward":
                where += f" ({failure.module_type})"  # the module's own Python code raised (an input check)
            diag = make(
                "LS100",
                f"{failure.op}{where} failed: {failure.message.splitlines()[0] if failure.message else failure.exception}"
                + (f" (operands: {operands})" if operands else ""),
                hint=_generic_hint(failure),
                module=failure.module, source=failure.source,
            )
        if i == 0:
            diag = _blame_input(ctx.graph, failure, diag)
        if i > 0 and _follows(ctx.graph, failure, substituted):
            diag = make(diag.code, diag.message, hint=diag.hint, module=diag.module, source=diag.source,
                        node=diag.node, severity=diag.severity, follows_error=True, **dict(diag.data))
        sub = substituted_node(ctx.graph, failure)
        if sub is not None:
            substituted.add(sub)
        out.append(diag)
    return out


def _generic_hint(failure) -> str:
    msg = failure.message or ""
    if failure.op == "forward" and failure.exception == "TypeError" and (
            "positional argument" in msg or "unexpected keyword argument" in msg):
        # the forward's signature does not match the inputs: nothing in the table explains that
        return ("the inputs do not match forward()'s signature: give one input per positional argument "
                "(several input sizes, or inputs=(a, b)) and keyword inputs with kwargs=")
    return "see the table up to this layer for the shapes that reached it"


def _size_forms(shape: tuple[int, ...]) -> str:
    """How to give ``shape`` to layerscope: the command-line and the Python spelling."""
    flag = "x".join(map(str, shape)) + (" --full-shape" if len(shape) == 3 else "")
    py = f"{tuple(shape)}" + (", full_shape=True" if len(shape) == 3 else "")
    return f"--input-size {flag} (input_size={py})"


def _blame_input(graph: Graph, failure, diag: Diagnostic) -> Diagnostic:
    """When the first failure is the model's first layer rejecting the input itself (or the forward rejecting
    the number of inputs), the likely fault is the input size that was given, not the layer: say so first,
    with how to write a size, and keep the layer's own fix as the alternative."""
    from ..sizes import EXAMPLES

    inputs = [n for n in graph.nodes if n.kind == "input"]
    if not inputs:
        return diag
    if not failure.operands and failure.exception == "TypeError" and "positional argument" in failure.message:
        n = len(inputs)
        message = (f"the forward does not take the {n} input(s) that were given: {diag.message}")
        hint = (f"give one --input-size value per positional input of forward() (-s 3x32x32 1x10 is two inputs; "
                f"input_size=[(3, 32, 32), (1, 10)] in Python); sizes are {EXAMPLES}")
        return make(diag.code, message, hint=hint, module=diag.module, source=diag.source, node=diag.node,
                    severity=diag.severity, blames_input=True, **dict(diag.data))
    direct = [t for t in failure.operands if t.producer is not None and t.producer < len(graph)
              and graph[t.producer].kind == "input"]
    if not direct:
        return diag
    shape = tuple(direct[0].shape)
    name = graph[direct[0].producer].name
    name = "" if name == "input" else f" {name}"
    fix = ""
    expected = diag.data.get("expected") if diag.code == "LS104" else None
    if isinstance(expected, int) and len(shape) >= 3:
        want = (shape[0], expected, *shape[2:])
        fix = f"for {expected} channels give {_size_forms(want)}; "
    if len(shape) == 4 and not fix:  # maybe a 3-dim size that got a batch dimension it already had
        fix = ("a 3-dim size is C x H x W and gets a batch dimension; --full-shape (full_shape=True) uses it as "
               "written; ")
    message = f"the model input{name} {shape} is rejected by the first layer that reads it: {diag.message}"
    hint = (f"check the input size first: {shape} is what --input-size / input_size built ({EXAMPLES}); {fix}"
            f"if the input size is right: {diag.hint}" if diag.hint else
            f"check the input size first: {shape} is what --input-size / input_size built ({EXAMPLES}); {fix}")
    return make(diag.code, message, hint=hint.rstrip("; "), module=diag.module, source=diag.source, node=diag.node,
                severity=diag.severity, blames_input=True, **dict(diag.data))


def substituted_node(graph: Graph, failure) -> int | None:
    """The node whose output was substituted to keep tracing after ``failure`` (None: the trace ended)."""
    for node in graph.nodes[failure.node_count:]:
        if (node.kind == "module" and node.name == failure.module) or (node.kind == "op" and node.type == failure.op):
            return node.id
    return None


def _follows(graph: Graph, failure, substituted: set[int]) -> bool:
    """True when an operand of ``failure`` descends from a substituted output of an earlier failure: a finding
    that may only be a consequence of that earlier error. Independent bugs are not marked."""
    if not substituted:
        return False
    stack = [t.producer for t in failure.operands if t.producer is not None]
    seen: set[int] = set()
    while stack:
        nid = stack.pop()
        if nid in substituted:
            return True
        if nid in seen or nid >= len(graph):
            continue
        seen.add(nid)
        stack.extend(graph.predecessors(nid))
    return False
