"""One training step on meta tensors: forward, ``backward()`` and the optimizer step, with live storages tracked.

How it works:
1. A private meta copy of the model (``meta_copy``) gets the optimizer's state first (steady state: a
   throw-away step on zero meta gradients creates Adam's moments / SGD's momentum buffers), then the
   tracer records the forward with autograd on, under a ``TorchDispatchMode`` that sees every aten op.
2. The dispatch mode keeps one entry per live *storage* (``untyped_storage()``; a view shares its base's
   storage, so it costs nothing), with a weakref callback that records the storage's death when the last
   tensor using it dies, in C++ too (autograd's saved tensors keep the storage's Python object alive).
   After every op the live set is what an allocator holds: that is the timeline.
3. Storages are labelled by what they turn out to be: params and buffers, gradients (the ``.grad`` of a
   parameter after backward), optimizer state, activations (made in the forward) and workspace (the rest:
   activation gradients and temporaries of backward and step). Labels are applied after the step, then the
   event log is replayed into per-kind bytes after every op.
4. Mixed precision (``bf16-mixed`` / ``fp16-mixed``) is emulated at the torch-function level, as CUDA
   autocast does it (meta tensors have no autocast key): the ops of autocast's lower-precision list get
   their fp32 floating arguments cast (weights once per forward, cached), the fp32-list ops get theirs cast up.
Nothing here touches the user's model; every tensor is on meta.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as _F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from ..errors import LayerscopeError, TraceError
from ..rules import Call, OpCost, canonical_name
from ..rules.backward import backward_cost
from ..rules.onednn import onednn_lstm_applies, workspace_rule
from .meta_memo import MetaMemo
from .tracer import Tracer, TraceResult, meta_copy, _tensors

KINDS = ("params", "buffers", "grads", "optimizer", "activations", "workspace")
PRECISIONS = ("fp32", "bf16", "fp16", "bf16-mixed", "fp16-mixed")
OPTIMIZERS = ("sgd", "sgd-momentum", "adam", "adamw")


# ------------------------------------------------------------------------------------------- storages
class LiveStorages(TorchDispatchMode):
    """Every meta storage alive, as an allocator sees them; an event log replayed into the timeline."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []
        self.kinds: list[str] = []
        self.sid: dict[int, int] = {}  # StorageImpl address -> storage id, while alive
        self.refs: dict[int, Any] = {}
        self.events: list[int] = []  # sid >= 0: allocated; ~sid: freed
        self.marks: list[int] = []  # len(events) after op k
        self.ops: list[str] = []
        self.phases: list[str] = []
        self.phase = "setup"
        self.default = "activations"
        self.memo = MetaMemo()  # a repeated call's meta kernel is not run again (meta_memo.py)
        self.step_kinds: dict[Any, int] = {}  # op -> its kind for the step's fast path (_step_kind)
        self.workspaces: dict[Any, Any] = {}  # op -> its workspace rule (rules.onednn) or None, looked up once

    def track(self, t: Any, kind: str | None = None) -> int | None:
        if not isinstance(t, torch.Tensor) or t.device.type != "meta":
            return None
        st = t.untyped_storage()
        key = st._cdata
        sid = self.sid.get(key)
        if sid is not None:
            if kind is not None:
                self.kinds[sid] = kind
            return sid
        sid = len(self.sizes)
        self.sizes.append(st.nbytes())
        self.kinds.append(kind or self.default)
        self.sid[key] = sid
        self.events.append(sid)
        self.refs[sid] = weakref.ref(st, lambda _r, key=key, sid=sid: self._free(key, sid))
        return sid

    def _free(self, key: int, sid: int) -> None:
        if self.sid.get(key) == sid:
            del self.sid[key]
        self.refs.pop(sid, None)
        self.events.append(~sid)

    def relabel(self, t: Any, kind: str) -> None:
        if isinstance(t, torch.Tensor) and t.device.type == "meta":
            sid = self.sid.get(t.untyped_storage()._cdata)
            if sid is not None:
                self.kinds[sid] = kind

    def mark(self, op: str) -> None:
        self.marks.append(len(self.events))
        self.ops.append(op)
        self.phases.append(self.phase)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = _FAST_MISSING
        if self.phase in ("step", "setup"):
            out = _fast_elementwise(func, args, kwargs, self.step_kinds)
        if out is _FAST_MISSING:
            out = self.memo(func, args, kwargs)
        if self.phase in ("forward", "backward"):  # checkpointed regions recompute in backward
            if func not in self.workspaces:
                self.workspaces[func] = workspace_rule(func.overloadpacket.__name__)
            sized = self.workspaces[func]
            if sized is not None and torch.is_grad_enabled():
                out = _with_workspace(out, sized(args))
        for t in _tensors(out, []):
            self.track(t)
        self.mark(func.__name__)
        return out

    def replay(self) -> list[tuple[int, ...]]:
        """Live bytes per kind (in ``KINDS`` order) after every op."""
        index = {k: i for i, k in enumerate(KINDS)}
        live = [0] * len(KINDS)
        kind_of = [index[k] for k in self.kinds]
        out: list[tuple[int, ...]] = []
        e = 0
        events, sizes = self.events, self.sizes
        for m in self.marks:
            while e < m:
                ev = events[e]
                if ev >= 0:
                    live[kind_of[ev]] += sizes[ev]
                else:
                    live[kind_of[~ev]] -= sizes[~ev]
                e += 1
            out.append(tuple(live))
        return out


def _with_workspace(out: tuple, nbytes: int) -> tuple:
    """The op's outputs with its last one (the workspace, empty on meta) at its real size."""
    ws = out[-1]
    if not isinstance(ws, torch.Tensor) or ws.numel() * ws.element_size() >= nbytes:
        return out
    return (*out[:-1], torch.empty(nbytes // ws.element_size(), dtype=ws.dtype, device="meta"))


# The optimizer step is elementwise arithmetic on tensors of one shape; on meta each op would run a Python
# meta kernel that only checks shapes. For these ops, with every tensor argument a meta tensor of the first
# one's shape and dtype, the result is known: the first argument itself (in-place) or a new tensor like it.

from ..rules.training import STEP_ELEMENTWISE as _ELEMENTWISE_STEP  # noqa: E402

_FAST_MISSING = object()


def _step_kind(func: Any) -> int:
    """0: not a step elementwise op; 1: its functional form; 2: its in-place form."""
    name = func.overloadpacket.__name__
    inplace = name.endswith("_")
    return (2 if inplace else 1) if (name[:-1] if inplace else name) in _ELEMENTWISE_STEP else 0


def _fast_elementwise(func: Any, args: tuple, kwargs: dict | None, kinds: dict[Any, int]) -> Any:
    kind = kinds.get(func)
    if kind is None:
        kind = kinds[func] = _step_kind(func)
    if not kind or kwargs and any(isinstance(v, torch.Tensor) for v in kwargs.values()):
        return _FAST_MISSING
    first = args[0] if args else None
    if not isinstance(first, torch.Tensor) or first.device.type != "meta":
        return _FAST_MISSING
    shape, dtype = first.shape, first.dtype
    for a in args[1:]:
        if isinstance(a, torch.Tensor) and (a.device.type != "meta" or a.shape != shape or a.dtype != dtype):
            return _FAST_MISSING
        if isinstance(a, (list, tuple)):
            return _FAST_MISSING
    if kind == 2:
        return first
    if kwargs and kwargs.get("dtype") not in (None, dtype):
        return _FAST_MISSING
    if first.is_contiguous():  # what empty_like makes of it, without empty_like's Python meta kernel
        return torch.empty_strided(shape, first.stride(), dtype=dtype, device="meta")
    return torch.empty_like(first)


class _FastStep(TorchDispatchMode):
    """The optimizer's state-creating step before the measured one: shortcut elementwise ops, record nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.kinds: dict[Any, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = _fast_elementwise(func, args, kwargs, self.kinds)
        return func(*args, **(kwargs or {})) if out is _FAST_MISSING else out


# ------------------------------------------------------------------------------------------ autocast
# CUDA autocast's op lists (aten/src/ATen/autocast_mode.cpp), by layerscope's canonical names
from ..rules.training import AUTOCAST_FP32 as _FP32, AUTOCAST_LOWER as _LOWER  # noqa: E402



class TrainFunctions(TorchFunctionMode):
    """What the training step's torch functions do differently on meta than a device would not tell:

    - ``F.scaled_dot_product_attention`` runs as the fused (flash) kernel, as CPU and CUDA pick it: it saves
      the output and the log-sum-exp rows, not the attention matrix (on meta, sdpa would take the math path);
    - ``nn.LSTM`` runs as PyTorch's CPU ``lstm`` runs it where oneDNN takes it (``rules.onednn``): one
      ``mkldnn_rnn_layer`` per layer and direction, each keeping a workspace for backward instead of the
      native kernel's per-step gates (on meta, ``lstm`` would take the native path);
    - with ``dtype`` (bf16-mixed / fp16-mixed): CUDA-style autocast, the floating arguments of autocast's
      lower-precision ops cast to ``dtype`` (weights once per forward, cached), of its fp32 ops cast up.
    """

    def __init__(self, dtype: torch.dtype | None, live: LiveStorages):
        super().__init__()
        self.dtype = dtype
        self.live = live
        self.cache: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = {}
        self.names: dict[Any, str] = {}

    def _cast(self, x: Any, dtype: torch.dtype | None) -> Any:
        if dtype is None:
            return x
        if isinstance(x, torch.Tensor):
            if not x.is_floating_point() or x.dtype == dtype or x.dtype == torch.float64:
                return x
            leaf_param = x.is_leaf and x.requires_grad
            if leaf_param and self.cache is not None and dtype == self.dtype:
                got = self.cache.get(id(x))
                if got is not None and got[0] is x:
                    return got[1]
            with torch._C.DisableTorchFunction():
                y = x.to(dtype)
            if leaf_param:
                self.live.relabel(y, "params")  # a weight's low-precision copy: the "2" of "2 + 4 bytes"
                if self.cache is not None and dtype == self.dtype:
                    self.cache[id(x)] = (x, y)
            return y
        if isinstance(x, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in x):
            return type(x)(self._cast(v, dtype) for v in x)
        return x

    def _sdpa(self, args: tuple, kwargs: dict) -> Any:
        names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
        a = dict(zip(names, args))
        a.update(kwargs)
        q, k, v = (self._cast(a[n], self.dtype) for n in names[:3])
        if a.get("enable_gqa") or q.dim() != 4 or k.dim() != 4 or v.dim() != 4 or q.is_nested:
            return None
        mask = a.get("attn_mask")
        with torch._C.DisableTorchFunction():
            out = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
                q, k, v, float(a.get("dropout_p", 0.0)), bool(a.get("is_causal", False)),
                attn_mask=self._cast(mask, q.dtype) if mask is not None and mask.is_floating_point() else mask,
                scale=a.get("scale"))
        return out[0]

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.dtype is None:  # fp32 / pure low precision: only attention and LSTM are rerouted (fast path)
            if func is _F.scaled_dot_product_attention:
                out = self._sdpa(args, kwargs)
                if out is not None:
                    return out
            elif func is _F.multi_head_attention_forward:
                return self._python_level(func, args, kwargs)
            elif func is torch.lstm and not kwargs and len(args) == 9 and isinstance(args[1], (list, tuple)) \
                    and onednn_lstm_applies(args[0], args[1], torch):
                return _onednn_lstm(*args)
            return func(*args, **kwargs)
        name = self.names.get(func)
        if name is None:
            try:
                name = self.names[func] = canonical_name(func)[0]
            except TypeError:
                name = canonical_name(func)[0]
        if func is _F.scaled_dot_product_attention:
            out = self._sdpa(args, kwargs)
            if out is not None:
                return out
        if self.dtype is not None:
            if name in _LOWER:
                args = tuple(self._cast(a, self.dtype) for a in args)
                kwargs = {k: self._cast(v, self.dtype) for k, v in kwargs.items()}
                return func(*args, **kwargs)
            if name in _FP32 and "dtype" not in kwargs:
                args = tuple(self._cast(a, torch.float32) for a in args)
                kwargs = {k: self._cast(v, torch.float32) for k, v in kwargs.items()}
                return func(*args, **kwargs)
        if getattr(func, "__module__", None) == "torch.nn.functional":
            return self._python_level(func, args, kwargs)
        return func(*args, **kwargs)

    def _python_level(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """Run a Python-level functional (``F.multi_head_attention_forward``) with this mode on for what it
        calls: its own ``has_torch_function`` entry check is switched off for the call, else it would come
        straight back here."""
        import torch.nn.functional as F

        saved = {n: getattr(F, n) for n in _HAS_TORCH_FUNCTION}
        try:
            for n in _HAS_TORCH_FUNCTION:
                setattr(F, n, _no_torch_function)
            with self:
                return func(*args, **kwargs)
        finally:
            for n, f in saved.items():
                setattr(F, n, f)


def _onednn_lstm(x: torch.Tensor, hx: Sequence[torch.Tensor], params: Sequence[torch.Tensor], has_biases: bool,
                 num_layers: int, dropout: float, train: bool, bidirectional: bool, batch_first: bool) -> tuple:
    """``torch.lstm`` as ``mkldnn_rnn`` (aten/src/ATen/native/mkldnn/RNN.cpp) runs it: time-major contiguous
    input, one ``mkldnn_rnn_layer`` per layer and direction, directions concatenated, dropout between layers."""
    with torch._C.DisableTorchFunction():
        layer_input = (x.transpose(0, 1) if batch_first else x).contiguous()
        h0, c0 = hx[0].contiguous(), hx[1].contiguous()
        hidden = h0.shape[-1]
        directions = 2 if bidirectional else 1
        stride = 4 if has_biases else 2
        hy, cy = [], []
        for layer in range(num_layers):
            outs = []
            for d in range(directions):
                i = layer * directions + d
                w = list(params[i * stride:(i + 1) * stride])
                if not has_biases:  # as mkldnn_rnn does: zeros the size of the weights
                    w += [torch.zeros(w[0].shape, dtype=w[0].dtype, device=w[0].device),
                          torch.zeros(w[1].shape, dtype=w[1].dtype, device=w[1].device)]
                out = torch.ops.aten.mkldnn_rnn_layer(layer_input, w[0], w[1], w[2], w[3], h0[i], c0[i], d > 0, [],
                                                      2, hidden, num_layers, has_biases, bidirectional,
                                                      batch_first, train)
                outs.append(out[0])
                hy.append(out[1])
                cy.append(out[2])
            layer_input = outs[0] if directions == 1 else torch.cat(outs, -1)
            if dropout and train and layer < num_layers - 1:
                layer_input = torch.dropout(layer_input, dropout, True)
        output = layer_input.transpose(0, 1) if batch_first else layer_input
        return output, torch.stack(hy, 0), torch.stack(cy, 0)


_HAS_TORCH_FUNCTION = ("has_torch_function", "has_torch_function_unary", "has_torch_function_variadic")


def _no_torch_function(*args: Any) -> bool:
    return False


# -------------------------------------------------------------------------------------------- tracer
class _WeakKeep(list):
    """The base tracer keeps every output alive (so ids stay unique); here that would keep the whole
    forward's activations alive, so a tensor's producer entry is dropped when it dies instead."""

    def __init__(self, producer: dict[int, Any]):
        super().__init__()
        self.producer = producer

    def append(self, t: Any) -> None:
        weakref.finalize(t, self.producer.pop, id(t), None)


class _TrainTracer(Tracer):
    """The forward tracer with autograd on: backward cost per op, saved tensors per node, no strong refs."""

    def __init__(self, model: nn.Module, live: LiveStorages):
        super().__init__(model, mode="train", grad=True, copy=False)
        self.live = live
        self.keep = _WeakKeep(self.producer)
        self.backward: dict[int, OpCost | None] = {}  # id(OpRecord) -> its backward cost
        self.saved: list[tuple[int, int]] = []  # (node index it belongs to, storage id)

    def op_record(self, name, inplace, args, kwargs, outs):
        record = super().op_record(name, inplace, args, kwargs, outs)
        cost = None
        if record.known:
            try:
                cost = backward_cost(Call(name, args, kwargs, outs), OpCost(record.macs, record.flops))
            except Exception:  # a rule that cannot read this call: unknown, not zero
                cost = None
        self.backward[id(record)] = cost
        return record

    def _register(self, node_id: int, outs: list[torch.Tensor]) -> None:
        for slot, t in enumerate(outs):
            self.producer[id(t)] = (node_id, slot)
            self.keep.append(t)

    def pack(self, t: torch.Tensor) -> Any:
        sid = self.live.track(t)
        if sid is not None:
            self.saved.append((len(self.nodes), sid))
        with torch._C.DisableTorchFunction():
            return t.detach()


# ----------------------------------------------------------------------------------------- optimizer
def make_optimizer(spec: Any, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    if isinstance(spec, str):
        name = spec.lower()
        if name == "sgd":
            return torch.optim.SGD(params, lr=0.01)
        if name == "sgd-momentum":
            return torch.optim.SGD(params, lr=0.01, momentum=0.9)
        if name == "adam":
            return torch.optim.Adam(params)
        if name == "adamw":
            return torch.optim.AdamW(params)
        raise LayerscopeError(f"unknown optimizer {spec!r}", code="LS981",
                              hint=f"use one of {', '.join(OPTIMIZERS)}, an optimizer class or a factory "
                                   "params -> optimizer")
    if callable(spec):
        try:
            opt = spec(params)
        except Exception as exc:
            raise LayerscopeError(f"the optimizer {getattr(spec, '__name__', spec)!r} could not be built on the "
                                  f"model's parameters: {type(exc).__name__}: {exc}", code="LS981",
                                  hint="pass a class that takes the parameters (torch.optim.AdamW) or a factory "
                                       "lambda params: torch.optim.SGD(params, lr=0.1)") from exc
        if isinstance(opt, torch.optim.Optimizer):
            return opt
    raise LayerscopeError(f"optimizer {spec!r} is not a name, an optimizer class or a factory", code="LS981",
                          hint=f"use one of {', '.join(OPTIMIZERS)} or torch.optim.AdamW")


def _state_tensors(opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [v for state in opt.state.values() for v in state.values() if isinstance(v, torch.Tensor)]


# -------------------------------------------------------------------------------------------- result
@dataclass
class StepTrace:
    trace: TraceResult
    nodes_backward: list[tuple[int, int, bool]]  # per node: backward MACs, FLOPs, known
    nodes_saved: list[int]  # per node: bytes of activation storages it saved first
    nodes_grad: list[int]  # per node: gradient bytes of its trainable parameters
    timeline: list[tuple[int, ...]]
    ops: list[str]
    phases: list[str]
    unknown_backward: dict[str, int] = field(default_factory=dict)
    saved_bytes: int = 0
    checkpointed: list[str] = field(default_factory=list)


def default_loss(output: Any) -> torch.Tensor:
    """The sum of every floating output that requires grad (``out.sum()`` for one output)."""
    outs = [t for t in _tensors(output, []) if t.is_floating_point() and t.requires_grad]
    if not outs:
        raise TraceError("no output of the model requires grad: there is nothing to train", code="LS980",
                         hint="check that the parameters have requires_grad=True and reach the output")
    loss = outs[0].sum()
    for t in outs[1:]:
        loss = loss + t.sum()
    return loss


def _checkpointed(work: nn.Module, checkpoint: Any) -> list[str]:
    if checkpoint is None:
        return []
    from torch.utils.checkpoint import checkpoint as ckpt

    modules = dict(work.named_modules())
    if callable(checkpoint) and not isinstance(checkpoint, (list, tuple, set, str)):
        names = [n for n, m in modules.items() if n and checkpoint(n, m)]
    else:
        names = [checkpoint] if isinstance(checkpoint, str) else list(checkpoint)
        missing = [n for n in names if n not in modules or not n]
        if missing:
            raise LayerscopeError(f"checkpoint= names no module of the model: {', '.join(map(repr, missing))}",
                                  code="LS983", hint="use names from model.named_modules(), e.g. 'layer1.0'")
    for n in names:
        m = modules[n]
        forward = m.forward

        def run(*args: Any, _f: Callable = forward, **kwargs: Any) -> Any:
            return ckpt(_f, *args, use_reentrant=False, preserve_rng_state=False, **kwargs)

        m.forward = run  # on the private copy only
    return names


def trace_step(model: nn.Module, args: tuple, kwargs: dict, *, optimizer: Any = "adamw",
               precision: str = "fp32", checkpoint: Any = None,
               loss_fn: Callable[[Any], torch.Tensor] | None = None) -> StepTrace:
    """Run one steady-state training step of a meta copy of ``model`` and record what lives when."""
    if precision not in PRECISIONS:
        raise LayerscopeError(f"unknown precision {precision!r}", code="LS982",
                              hint=f"use one of {', '.join(PRECISIONS)}")
    try:
        work = meta_copy(model)
    except Exception as exc:
        raise TraceError(f"could not make a meta copy of {type(model).__name__}: {type(exc).__name__}: {exc}",
                         hint="make the model copyable (no open files, locks or generators as attributes)",
                         code="LS931") from exc
    low = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision.split("-")[0])
    if low is not None and not precision.endswith("-mixed"):
        work = work.to(low)
        args, kwargs = _cast_inputs(args, low), {k: _cast_inputs(v, low) for k, v in kwargs.items()}
    checkpointed = _checkpointed(work, checkpoint)
    params = [p for p in dict.fromkeys(work.parameters()) if p.requires_grad]
    opt = make_optimizer(optimizer, params)
    # steady state: the optimizer's state exists before the step (one step on zero gradients creates it)
    for p in params:
        p.grad = torch.zeros_like(p)
    with _FastStep():  # the fast path for the step's elementwise ops; nothing is recorded
        opt.step()
    opt.zero_grad(set_to_none=True)

    live = LiveStorages()
    for p in dict.fromkeys(work.parameters()):
        live.track(p, "params")
    for b in work.buffers():
        live.track(b, "buffers")
    for t in _state_tensors(opt):
        live.track(t, "optimizer")
    for t in _tensors(list(args) + list(kwargs.values()), []):
        live.track(t, "activations")
    live.mark("start")
    tracer = _TrainTracer(work, live)
    tracer.dtype_checks = not precision.endswith("-mixed")
    functions = TrainFunctions(low if precision.endswith("-mixed") else None, live)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    try:
        with live:
            live.phase = "forward"
            with torch.autograd.graph.saved_tensors_hooks(tracer.pack, lambda x: x):
                with functions:
                    result = tracer.run(args, kwargs)
                if result.failure is not None:
                    raise _forward_failed(result)
                output = tracer.output
                tracer.output = None
                loss = (loss_fn or default_loss)(output)
            del output
            functions.cache = None  # autocast's weight casts are dropped when its region exits
            live.phase, live.default = "backward", "workspace"
            with functions:  # checkpointed regions recompute their forward the same way
                loss.backward()
            del loss
            for p in params:
                if p.grad is not None:
                    live.relabel(p.grad, "grads")
            live.phase = "step"
            opt.step()
            opt.zero_grad(set_to_none=True)
            live.mark("zero_grad")
    except LayerscopeError:
        raise
    except Exception as exc:
        raise TraceError(f"the training step failed on meta tensors: {type(exc).__name__}: {exc}", code="LS980",
                         hint="the forward traces but its backward or the optimizer step does not run on meta; "
                              "report the model") from exc
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    for t in _state_tensors(opt):
        live.relabel(t, "optimizer")

    graph = result.graph
    kinds = live.kinds
    first_saver: dict[int, int] = {}
    for node, sid in tracer.saved:
        if kinds[sid] == "activations" and sid not in first_saver:
            first_saver[sid] = min(node, len(graph.nodes) - 1)
    saved = [0] * len(graph.nodes)
    for sid, node in first_saver.items():
        saved[node] += live.sizes[sid]
    backward, grads, unknown = [], [], {}
    for node in graph.nodes:
        macs = flops = 0
        known = True
        for op in node.ops:
            cost = tracer.backward.get(id(op))
            if cost is None:
                known = False
                unknown[op.op] = unknown.get(op.op, 0) + 1
            else:
                macs += cost.macs
                flops += cost.flops
        backward.append((macs, flops, known))
        grads.append(node.param_bytes * node.trainable_params // node.params if node.params else 0)
    return StepTrace(result, backward, saved, grads, live.replay(), live.ops, live.phases, unknown,
                     sum(saved), checkpointed)


def _forward_failed(result: TraceResult) -> TraceError:
    """LS980 for a training forward that raised, with the explainer's story where it has one (a BatchNorm
    at one value per channel, a shape bug), else PyTorch's message."""
    from ..analysis.explain import explain_failure

    f = result.failure
    where = f" in {f.module}" if f.module else ""
    diag = explain_failure(result.graph, f)
    if diag is not None:
        return TraceError(f"the training forward failed ({diag.code}): {diag.message}", code="LS980",
                          hint=diag.hint or "see layerscope rule " + diag.code)
    return TraceError(f"the forward pass failed{where} ({f.op}): {f.message}", code="LS980",
                      hint="run layerscope analyze on the model to see the shape error explained")


def _cast_inputs(x: Any, dtype: torch.dtype) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(dtype) if x.is_floating_point() else x
    if isinstance(x, (list, tuple)):
        return type(x)(_cast_inputs(v, dtype) for v in x)
    if isinstance(x, dict):
        return {k: _cast_inputs(v, dtype) for k, v in x.items()}
    return x


__all__: Sequence[str] = ["KINDS", "OPTIMIZERS", "PRECISIONS", "LiveStorages", "StepTrace", "default_loss",
                          "make_optimizer", "trace_step"]
