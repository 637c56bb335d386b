"""The meta-tensor tracer: the only place that knows how torch runs a forward pass.

How it works:
1. The user's model is never touched. It is deep-copied with a memo that maps every parameter, buffer and
   tensor attribute to a meta tensor of the same shape, dtype and ``requires_grad``: the copy costs no weight
   memory, and a model built on CPU (even one whose constructor cannot run on meta) is traced the same way
   as one built under ``torch.device("meta")``.
2. Global module forward hooks (pre, and post with ``always_call``) keep a stack of module scopes.
   A leaf module (no children) or an atomic one (``nn.MultiheadAttention``) becomes one node; the ops its
   forward runs are counted inside it, so the ``F.conv2d`` of an ``nn.Conv2d`` is not a second node.
3. A ``TorchFunctionMode`` sees every functional and tensor op (``+``, ``torch.cat``, ``@``,
   ``F.interpolate``...). Ops called by container modules become nodes of their own, named in their scope.
4. Everything is restored in ``finally``: hooks removed, the mode popped.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..errors import TraceError
from ..graph import Graph, Node, OpRecord, Scope, TensorInfo
from ..rules import Call, bind, canonical_name, in_family, lookup
from .dtypes import check_dtypes
from .guards import value_guards
from .hooks import guard_user_hooks
from .masks import MaskTracker
from .hooks import source_of as _source_of
from .quantized import float_twins, twin_memo, twin_params
from .upper_bound import after as _after_op
from .upper_bound import constants as _model_constants
from .upper_bound import patched as _upper_bound_patches
from .upper_bound import substitute as _upper_bound
from .upper_bound import take_assumption
from .inputs import input_names
from .lazy import is_uninitialized, materialize, meta_uninitialized
from .outputs import describe, output_tensors
from .unwrap import unwrap_compiled_children

_TORCH_DIR = os.path.dirname(torch.__file__)
_LS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ATOMIC: tuple[type, ...] = (nn.MultiheadAttention, nn.RNNBase)


@dataclass
class Failure:
    """What went wrong when the forward raised: the op, where, its operands and PyTorch's message."""

    op: str
    module: str | None
    module_type: str | None
    source: str | None
    operands: list[TensorInfo]
    message: str
    exception: str
    node_count: int
    args_repr: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: the failed call's plain (non-tensor) arguments by name, from the op table's signature: ``dim`` of a
    #: cat, ``shape`` of a view... The explainers read these, not the message
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Frame:
    name: str
    type: str
    opaque: bool
    call: int
    module: Any
    inputs: list[TensorInfo] = field(default_factory=list)
    ops: list[OpRecord] = field(default_factory=list)
    first: int = 0
    source: str | None = None
    depth: int = 0


_INNER = _Frame("", "", True, 0, None)
from .dtypes import CHECKED_FAMILIES as _DTYPE_CHECKED  # noqa: E402


def _is_parametrized(module: nn.Module) -> bool:
    # weight_norm / spectral_norm parametrizations hang a ``parametrizations`` ModuleDict on the layer: it is
    # still one layer (its weight is computed in its forward), so it is traced as one node with its params
    return bool(getattr(module, "parametrizations", None)) and isinstance(module.parametrizations, nn.ModuleDict)


def _type_name(module: nn.Module) -> str:
    # parametrize swaps the class for a generated ``ParametrizedLinear(Linear)``: show the layer's own type
    cls = type(module)
    if _is_parametrized(module) and cls.__name__.startswith("Parametrized") and len(cls.__bases__) == 1:
        cls = cls.__bases__[0]
    return cls.__name__


def _base_of(t: torch.Tensor) -> torch.Tensor | None:
    # read without the tracer's TorchFunctionMode: the ``_base`` getter of a traced tensor would be recorded
    with torch._C.DisableTorchFunction():
        return t._base


def _fresh_bytes(outs: list[torch.Tensor], *known: Any) -> int:
    """Bytes of a leaf module's outputs that are new memory: not a known tensor (traced, an input, a parameter),
    and not a view of one (a view of a tensor made inside the layer, like an unbatched conv's squeezed result,
    is new memory)."""
    total = 0
    for t in outs:
        if any(id(t) in k for k in known):
            continue
        base = _base_of(t)
        if base is None or not any(id(base) in k for k in known):
            total += t.numel() * t.element_size()
    return total


@dataclass
class TraceResult:
    graph: Graph
    failure: Failure | None
    total_params: int
    trainable_params: int
    param_bytes: int
    params_by_dtype: dict[str, int]
    unused_params: list[str]
    buffer_bytes: int
    errors: list[Failure] = field(default_factory=list)
    hook_failures: list[Any] = field(default_factory=list)
    output_type: str | None = None  # type of what the forward returned, when it held no tensor
    state: tuple[TensorInfo, ...] = ()  # tensors held by non-tensor objects in the output (a KV cache)


def _dtype_info(dtype: torch.dtype, cache: dict = {}) -> tuple[str, int]:  # noqa: B006 - immutable facts
    got = cache.get(dtype)
    if got is None:
        got = cache[dtype] = (str(dtype).replace("torch.", ""), torch.empty((), dtype=dtype, device="meta").element_size())
    return got


def _user_source(skip: int = 2) -> str | None:
    f = sys._getframe(skip)
    left_layerscope = False
    while f is not None:
        fn = f.f_code.co_filename
        if fn.startswith(_LS_DIR):
            # layerscope frames below the model (the hooks) are skipped; reaching layerscope again after torch
            # frames means we walked out of the model into whoever called analyze(): no model source line
            if left_layerscope:
                return None
        elif fn.startswith(_TORCH_DIR + os.sep) or fn.startswith("<frozen"):  # not torchvision/, torchaudio/
            left_layerscope = True
        else:
            return f"{fn}:{f.f_lineno}"
        f = f.f_back
    return None


def _plain(attrs: dict[str, Any]) -> dict[str, Any]:
    """The arguments that are plain values (ints, strings, int sequences such as a shape); tensors dropped."""
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[k] = v
        elif isinstance(v, (list, tuple, torch.Size)) and all(isinstance(x, int) for x in v):
            out[k] = [int(x) for x in v]
    return out


def _tensors(x: Any, out: list) -> list:
    if isinstance(x, torch.Tensor):
        out.append(x)
    elif isinstance(x, (list, tuple)):
        for v in x:
            _tensors(v, out)
    elif isinstance(x, dict):
        for v in x.values():
            _tensors(v, out)
    return out


def _meta_like(t: torch.Tensor) -> torch.Tensor:
    if is_uninitialized(t):
        return meta_uninitialized(t)
    m = torch.empty_like(t, device="meta") if t.device.type != "meta" else t.detach()
    if isinstance(t, nn.Parameter):
        return nn.Parameter(m, requires_grad=t.requires_grad)
    return m


def meta_copy(model: nn.Module) -> nn.Module:
    """A structural copy of ``model`` whose every tensor is on meta; the original weights are not copied."""
    memo: dict[int, Any] = {}
    for t in [t for _, t in model.named_parameters(remove_duplicate=False)] + [
        t for _, t in model.named_buffers(remove_duplicate=False)
    ]:
        if id(t) not in memo:
            memo[id(t)] = _meta_like(t)
    for m in model.modules():
        for v in vars(m).values():
            if isinstance(v, torch.Tensor) and id(v) not in memo:
                memo[id(v)] = _meta_like(v)
    memo.update(twin_memo(model))  # quantized modules: float shape twins (quantized.py)
    work = copy.deepcopy(model, memo)
    float_twins(work)
    return work


class _Mode(TorchFunctionMode):
    def __init__(self, tracer: "Tracer"):
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        try:
            name = self.tracer._canonical(func)[0]
            if self.tracer.dtype_checks and in_family(name, *_DTYPE_CHECKED):
                check_dtypes(name, _tensors(args, []) + (_tensors(kwargs, []) if kwargs else []))
            out = func(*args, **kwargs)
            out = _after_op(self.tracer, self.tracer._canonical(func)[0], func, args, kwargs, out)
        except Exception as exc:
            out = self.tracer.on_error(func, args, kwargs, exc)
        if isinstance(out, torch.Tensor):
            outs = [out]
        elif isinstance(out, (tuple, list)):
            outs = [o for o in out if isinstance(o, torch.Tensor)]
            if not outs:
                return out
        elif out is None and func is torch.Tensor.__setitem__ and isinstance(args[0], torch.Tensor):
            outs = [args[0]]
        else:
            return out
        self.tracer.on_op(func, args, kwargs, outs)
        return out


class Tracer:
    """Records one forward pass of a meta copy of a model into a :class:`Graph`."""

    dtype_checks = True  # False under training_cost's emulated autocast, which casts after this tracer sees the op

    def __init__(self, model: nn.Module, *, mode: Literal["eval", "train"] = "eval",
                 recover: Callable[..., Any] | None = None, grad: bool = False, copy: bool = True):
        self.model = model
        self.mode = mode
        self.recover = recover
        self.grad = grad  # record autograd's graph (training_cost runs backward() on it afterwards)
        self.copy = copy  # False: ``model`` is already a private meta copy (training_cost made it)
        self.output: Any = None
        self.nodes: list[Node] = []
        self.scopes: list[Scope] = []
        self.producer: dict[int, tuple[int, int]] = {}
        self.keep: list[Any] = []
        self.stack: list[_Frame] = []
        self.counters: dict[str, int] = {}
        self.calls: dict[int, int] = {}
        self.counted_names: set[str] = set()  # parameters already attributed to a node (counted once)
        self.failure: Failure | None = None
        self.errors: list[Failure] = []
        self.thread = threading.get_ident()
        self.names: dict[int, str] = {}
        self.param_info: dict[int, tuple[str, int, int, bool]] = {}
        self.module_params: dict[int, list[int]] = {}
        self.canon: dict[Any, tuple[str, bool]] = {}
        self.hook_failures: list[Any] = []
        self.assumed: dict[int, tuple[Any, dict]] = {}  # upper-bound sizes, by output (upper_bound.py)
        self.constants: dict[int, torch.Tensor] = {}  # meta copy -> the model's real small constants
        self.bases: set[int] = set()  # storage owners of registered outputs that are views
        self.masks = MaskTracker()  # causal masks recognized from how they are built (tracing/masks.py)
        self.reads_causal = False  # the op being recorded reads one

    # ------------------------------------------------------------------ helpers
    def info(self, t: torch.Tensor) -> TensorInfo:
        dtype, size = _dtype_info(t.dtype)
        prod = self.producer.get(id(t))
        if prod is None:
            return TensorInfo(tuple(t.shape), dtype, None, 0, size)
        return TensorInfo(tuple(t.shape), dtype, prod[0], prod[1], size)

    @staticmethod
    def _outputs(node_id: int, outs: list[torch.Tensor]) -> tuple[TensorInfo, ...]:
        """The TensorInfos of a new node's outputs: produced by that node, slot by slot."""
        infos = []
        for slot, t in enumerate(outs):
            dtype, size = _dtype_info(t.dtype)
            infos.append(TensorInfo(tuple(t.shape), dtype, node_id, slot, size))
        return tuple(infos)

    def _register(self, node_id: int, outs: list[torch.Tensor]) -> None:
        for slot, t in enumerate(outs):
            self.producer[id(t)] = (node_id, slot)
            self.keep.append(t)
            base = _base_of(t)
            if base is not None:  # a later view of this output shares that memory (kept alive by t)
                self.bases.add(id(base))

    def _unique_name(self, base: str) -> str:
        n = self.counters.get(base, 0)
        self.counters[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def _scope(self) -> tuple[str, int]:
        for f in reversed(self.stack):
            if f is not _INNER:
                return f.name, f.depth
        return "", 0

    def _canonical(self, func: Any) -> tuple[str, bool]:
        try:
            got = self.canon.get(func)
        except TypeError:  # unhashable callables
            return canonical_name(func)
        if got is None:
            got = self.canon[func] = canonical_name(func)
        return got

    def op_record(self, name: str, inplace: bool, args: Any, kwargs: Any, outs: list[torch.Tensor]) -> OpRecord:
        record = self._op_record(name, inplace, args, kwargs, outs)
        if self.reads_causal:  # one of its tensors is a causal mask (or scores under one): see tracing/masks.py
            record = dataclasses.replace(record, attrs={**record.attrs, "causal_mask": True})
        return record

    def _op_record(self, name: str, inplace: bool, args: Any, kwargs: Any, outs: list[torch.Tensor]) -> OpRecord:
        if not inplace and kwargs and kwargs.get("inplace") is True and not in_family(name, "dropout"):
            inplace = True  # F.relu(x, inplace=True), as nn.ReLU(inplace=True) calls it
        in_shapes = tuple(tuple(t.shape) for t in _tensors(args, []))
        out_shapes = tuple(tuple(t.shape) for t in outs)
        rule = lookup(name)
        assumed = take_assumption(self, outs)
        extra = {"upper_bound": assumed} if assumed is not None else {}
        if rule is None:
            return OpRecord(name, in_shapes, out_shapes, 0, 0, False, "unknown", attrs=extra, inplace=inplace)
        try:
            cost = rule(Call(name, args, kwargs, outs))
        except Exception as exc:  # a rule that cannot read this call is a gap, not a zero
            return OpRecord(name, in_shapes, out_shapes, 0, 0, False, "unknown",
                            attrs={"rule_error": f"{type(exc).__name__}: {exc}", **extra}, inplace=inplace)
        return OpRecord(name, in_shapes, out_shapes, int(cost.macs), int(cost.flops), True, cost.spatial,
                        cost.windows, {**cost.attrs, **extra}, inplace)

    def _param_count(self, ids: list[int]) -> tuple[int, int, int]:
        params = pbytes = trainable = 0
        for pid in ids:
            info = self.param_info.get(pid)
            if info is None or info[0] in self.counted_names:
                continue
            self.counted_names.add(info[0])
            params += info[1]
            pbytes += info[1] * info[2]
            trainable += info[1] if info[3] else 0
        return params, pbytes, trainable

    # ------------------------------------------------------------------ torch-function events
    def on_op(self, func: Any, args: Any, kwargs: Any, outs: list[torch.Tensor]) -> None:
        if threading.get_ident() != self.thread:
            return
        name, inplace = self._canonical(func)
        tensors = _tensors(args, [])
        if kwargs:
            _tensors(kwargs, tensors)
        self.reads_causal = self.masks.observe(name, args, kwargs, tensors, outs)
        stack = self.stack
        if stack and stack[-1].opaque:
            frame = stack[-1]
            if frame is not _INNER:
                frame.ops.append(self.op_record(name, inplace, args, kwargs, outs))
            return
        traced = False
        param_ids = []
        for t in tensors:
            if id(t) in self.producer:
                traced = True
            elif id(t) in self.param_info:
                param_ids.append(id(t))
        if not traced and not param_ids:
            return  # arithmetic on constants (shapes, masks built from nothing traced)
        first = tensors[0] if tensors else None
        # the same data as the input (family "alias"): no node, the output keeps the input's producer
        if in_family(name, "alias") and first is not None and id(first) in self.producer and len(outs) == 1 \
                and outs[0].shape == first.shape and outs[0].dtype == first.dtype:
            self.producer[id(outs[0])] = self.producer[id(first)]
            self.keep.append(outs[0])
            return
        inputs = tuple(self.info(t) for t in tensors)
        scope, depth = self._scope()
        node_id = len(self.nodes)
        record = self.op_record(name, inplace, args, kwargs, outs)
        params, pbytes, trainable = self._param_count(param_ids)
        new_bytes = 0
        if not inplace:  # a view is never new memory here: its base is a traced tensor, a parameter or a constant
            for t in outs:
                if t._base is None and id(t) not in self.producer:
                    new_bytes += t.numel() * t.element_size()
        self.nodes.append(Node(
            node_id, self._unique_name(f"{scope}/{name}" if scope else name), "op", name, scope, inputs,
            self._outputs(node_id, outs),
            (record,), params, pbytes, trainable, 0, depth + (1 if scope else 0), _user_source(3), new_bytes,
        ))
        self._register(node_id, outs)

    def on_error(self, func: Any, args: Any, kwargs: Any, exc: Exception) -> Any:
        """Retry device mixes; otherwise record the failure and either recover or re-raise."""
        tensors = _tensors(args, []) + (_tensors(kwargs, []) if kwargs else [])
        if any(t.device.type == "meta" for t in tensors) and any(t.device.type != "meta" for t in tensors):
            def conv(x: Any) -> Any:
                if isinstance(x, torch.Tensor):
                    return torch.empty_like(x, device="meta") if x.device.type != "meta" else x
                if isinstance(x, (list, tuple)):
                    return type(x)(conv(v) for v in x)
                return x
            try:
                return func(*conv(args), **{k: conv(v) for k, v in kwargs.items()})
            except Exception as exc2:  # still failing: report the real problem
                exc = exc2
        name, _ = self._canonical(func)
        assumed = _upper_bound(self, name, func, args, kwargs)  # data-dependent sizes, .cpu()...
        if assumed is not None:
            return assumed
        if name in _META_LOW_PRECISION_ONLY and "Float16" in str(exc):
            retried = _retry_low_precision(func, args, kwargs)
            if retried is not None:
                return retried
        module = module_type = None
        for f in reversed(self.stack):
            if f is not _INNER:
                module, module_type = f.name, f.type
                break
        failure = Failure(
            op=name, module=module, module_type=module_type, source=_user_source(3),
            operands=[self.info(t) for t in tensors], message=str(exc).strip(), exception=type(exc).__name__,
            node_count=len(self.nodes), attrs=_plain(bind(name, args, kwargs or {})),
        )
        if any(id(t) in self.param_info for t in tensors):  # "parameter 0.weight", not "a constant"
            failure.extra["operand_names"] = [self.param_info[id(t)][0] if id(t) in self.param_info else None
                                              for t in tensors]
        self.errors.append(failure)
        if self.failure is None:
            self.failure = failure
        _mark_recorded(exc)
        if self.recover is not None:
            substitute = self.recover(self, failure, func, args, kwargs, exc)
            if substitute is not None:
                return substitute
        raise exc

    # ------------------------------------------------------------------ module events
    def pre_hook(self, module: nn.Module, args: Any) -> None:
        if threading.get_ident() != self.thread:
            return
        stack = self.stack
        if stack and stack[-1].opaque:
            stack.append(_INNER)
            return
        mid = id(module)
        scope, depth = self._scope()
        name = self.names.get(mid)
        if name is None:  # a module that is not a registered child (built in forward, kept in a list)
            name = self._unique_name(f"{scope}/{type(module).__name__}" if scope else type(module).__name__)
        elif name == "":
            # the model itself: a leaf or atomic model (an nn.MultiheadAttention) is one node named by its type
            name = type(module).__name__ if not module._modules or isinstance(module, _ATOMIC) else ""
        call = self.calls.get(mid, 0)
        self.calls[mid] = call + 1
        opaque = not module._modules or isinstance(module, _ATOMIC) or _is_parametrized(module)
        frame = _Frame(name, _type_name(module), opaque, call, module,
                       [self.info(t) for t in _tensors(args, [])], first=len(self.nodes),
                       source=_user_source(3), depth=name.count(".") + 1 if name else 0)
        stack.append(frame)

    def post_hook(self, module: nn.Module, args: Any, result: Any) -> None:
        if threading.get_ident() != self.thread or not self.stack:
            return
        frame = self.stack.pop()
        if frame is _INNER:
            return
        if result is None and sys.exc_info()[0] is not None:
            self._module_raised(frame, sys.exc_info()[1])
            return  # the forward raised; the op handler recorded where
        outs = output_tensors(result)
        node_id = len(self.nodes)
        if frame.opaque:
            ids = self.module_params.get(id(module))
            if ids is None:
                ids = self.module_params[id(module)] = [id(p) for p in module.parameters()]
            params, pbytes, trainable = self._param_count(ids)
            new_bytes = _fresh_bytes(outs, self.producer, self.bases, {id(t) for t in _tensors(args, [])},
                                     {id(b) for t in _tensors(args, []) if (b := _base_of(t)) is not None}, set(ids))
            self.nodes.append(Node(
                node_id, frame.name, "module", frame.type, frame.name.rpartition(".")[0], tuple(frame.inputs),
                self._outputs(node_id, outs),
                tuple(frame.ops), params, pbytes, trainable, frame.call, frame.depth, frame.source, new_bytes,
            ))
            self._register(node_id, outs)
        else:
            self.scopes.append(Scope(frame.name, frame.type, frame.call, frame.first, node_id - 1,
                                     tuple(self.info(t) for t in outs), frame.depth))

    def _module_raised(self, frame: _Frame, exc: BaseException | None) -> None:
        """A module's own Python code raised (an input check such as BatchNorm1d's ``expected 2D or 3D
        input``) and no op recorded the failure: record it at this, the innermost, module."""
        # after an earlier (recovered) failure, a module's own check failing is most likely a consequence
        if self.failure is not None or not isinstance(exc, Exception) or frame is _INNER or _recorded(exc):
            return
        _mark_recorded(exc)
        failure = Failure("forward", frame.name or None, frame.type, _source_of(exc) or frame.source, [],
                          str(exc).strip(), type(exc).__name__, len(self.nodes))
        self.errors.append(failure)
        if self.failure is None:
            self.failure = failure

    # ------------------------------------------------------------------ the run
    def run(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TraceResult:
        model = self.model
        # facts about the user's parameters, read before anything runs
        total, trainable, pbytes, by_dtype = _param_facts(model)
        lazy = any(is_uninitialized(p) for p in model.parameters()) or \
            any(is_uninitialized(b) for b in model.buffers())
        buffer_bytes = 0 if lazy else sum(b.numel() * b.element_size() for b in model.buffers())
        try:
            work = meta_copy(model) if self.copy else model
        except Exception as exc:
            raise TraceError(
                f"could not make a meta copy of {type(model).__name__}: {type(exc).__name__}: {exc}",
                hint="layerscope deep-copies the module structure (not the weights); make the model "
                     "copyable (no open files, locks or generators as attributes)",
                code="LS931",
            ) from exc
        for p in twin_params(work):  # packed quantized weights are not in model.parameters()
            dtype, size = _dtype_info(p.dtype)
            total += p.numel()
            pbytes += p.numel() * size
            by_dtype[dtype] = by_dtype.get(dtype, 0) + p.numel() * size
        work.train(self.mode == "train")
        unwrap_compiled_children(work)
        guard_user_hooks(work, self)
        if lazy:  # sizes known only now: read them from the materialized meta copy
            materialize(work, args, kwargs)
            self.hook_failures.clear()
            total, trainable, pbytes, by_dtype = _param_facts(work)
            buffer_bytes = sum(b.numel() * b.element_size() for b in work.buffers())
        self.constants = _model_constants(model, work)
        for name, m in work.named_modules(remove_duplicate=False):
            self.names.setdefault(id(m), name)
        for name, p in work.named_parameters(remove_duplicate=False):
            if id(p) not in self.param_info:
                self.param_info[id(p)] = (name, p.numel(), _dtype_info(p.dtype)[1], p.requires_grad)

        for name, t in input_names(args, kwargs):
            node_id = len(self.nodes)
            outputs = self._outputs(node_id, [t])
            self.nodes.append(Node(node_id, name, "input", "input", "", (), outputs, new_bytes=outputs[0].nbytes))
            self._register(node_id, [t])

        h_pre = nn.modules.module.register_module_forward_pre_hook(self.pre_hook)
        h_post = nn.modules.module.register_module_forward_hook(self.post_hook, always_call=True)
        result = None
        # the MHA/TransformerEncoder fast paths fuse the matmuls into one native op (and the nested-tensor
        # mask check has no meta kernel): switch them off for the trace, restore the user's setting after
        fastpath = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            with torch.inference_mode(False), torch.set_grad_enabled(self.grad), value_guards(), \
                    _upper_bound_patches(self), _Mode(self):
                result = work(*args, **kwargs)
            self.output = result
        except Exception as exc:
            if self.failure is None and not _recorded(exc):  # raised outside any op: a Python-level error in the user's forward
                scope, _ = self._scope()
                failure = Failure("forward", scope or None, None, _source_of(exc), [],
                                  str(exc).strip(), type(exc).__name__, len(self.nodes))
                self.errors.append(failure)
                if self.failure is None:
                    self.failure = failure
        finally:
            torch.backends.mha.set_fastpath_enabled(fastpath)
            h_pre.remove()
            h_post.remove()
            self.stack.clear()
        outputs = tuple(self.info(t) for t in output_tensors(result)) if result is not None else ()
        output_type = describe(result) if not outputs and self.failure is None else None
        state = tuple(self.info(t) for t in _state_tensors(result, outputs)) if result is not None else ()
        used = self.counted_names
        # names as the trace saw them: the meta copy's (compiled submodules unwrapped, lazy ones materialized)
        unused = [n for n, _ in work.named_parameters() if n not in used]
        graph = Graph(tuple(self.nodes), tuple(self.scopes), outputs)
        self.keep.clear()
        return TraceResult(graph, self.failure, total, trainable, pbytes, by_dtype, unused, buffer_bytes,
                           list(self.errors), list(self.hook_failures), output_type, state)


def _recorded(exc: BaseException) -> bool:
    return bool(getattr(exc, "_layerscope_recorded", False))


def _mark_recorded(exc: BaseException) -> None:
    try:
        exc._layerscope_recorded = True  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - an exception type without a __dict__: recorded at most twice
        pass


def _param_facts(model: nn.Module) -> tuple[int, int, int, dict[str, int]]:
    """Total and trainable parameters, their bytes and bytes per dtype (shared tensors once)."""
    seen: set[int] = set()
    total = trainable = pbytes = 0
    by_dtype: dict[str, int] = {}
    for p in model.parameters():
        if id(p) in seen or is_uninitialized(p):
            continue
        seen.add(id(p))
        dtype, size = _dtype_info(p.dtype)
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
        pbytes += p.numel() * size
        by_dtype[dtype] = by_dtype.get(dtype, 0) + p.numel() * size
    return total, trainable, pbytes, by_dtype


# ops whose meta kernel accepts only bf16/fp16 although their CPU kernel runs fp32 (torch's grouped GEMM): the
# shapes do not depend on the dtype, so the trace retries in bf16 and casts the result back
_META_LOW_PRECISION_ONLY = frozenset({"_grouped_mm", "grouped_mm"})


def _retry_low_precision(func: Any, args: Any, kwargs: Any) -> Any:
    dtypes = [t.dtype for t in _tensors(args, []) if t.is_floating_point()]
    if not dtypes:
        return None

    def low(x: Any) -> Any:
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            return x.to(torch.bfloat16)
        if isinstance(x, (list, tuple)):
            return type(x)(low(v) for v in x)
        return x

    try:
        out = func(*low(args), **{k: low(v) for k, v in (kwargs or {}).items()})
    except Exception:
        return None
    return out.to(dtypes[0]) if isinstance(out, torch.Tensor) else None


def _state_tensors(result: Any, outputs: Any = ()) -> list[torch.Tensor]:
    """Tensors the output holds inside objects that are not tensors, lists or dicts: the state a model returns
    for the next call, e.g. a transformers ``DynamicCache`` (``cache.layers[i].keys`` / ``.values``)."""
    found: list[torch.Tensor] = []
    seen: set[int] = set()
    # the outputs proper (tensors, containers, dataclasses, pytree nodes) are not state
    out_ids = {id(t) for t in output_tensors(result)}

    def walk(x: Any, inside: bool, depth: int) -> None:
        if depth > 6 or id(x) in seen:
            return
        seen.add(id(x))
        if isinstance(x, torch.Tensor):
            if inside and id(x) not in out_ids:
                found.append(x)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v, inside, depth + 1)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v, inside, depth + 1)
        elif not isinstance(x, (nn.Module, type, str, bytes, int, float, bool)) and hasattr(x, "__dict__"):
            for v in vars(x).values():
                walk(v, True, depth + 1)

    walk(result, False, 0)
    return found
