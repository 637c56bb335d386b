"""The rule registry: the op table's cost keys (and user-registered op names) -> rule functions. Duplicates
are refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..geometry import WindowAxis
from .table import OPS, bind


@dataclass(frozen=True)
class OpCost:
    """What a rule says about one op call."""

    macs: int = 0
    flops: int = 0
    windows: tuple[WindowAxis, ...] | None = None  # per spatial axis, for sliding-window ops
    spatial: str = "pointwise"  # how spatial positions map: pointwise|window|global|resize|reshape|reduce
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Call:
    """One op call as a rule sees it: the canonical name, raw arguments and the output tensors.

    Read arguments by name with :meth:`get` (the op table's signature maps positions to names, whatever the
    calling convention); :meth:`arg` by position is for ops outside the table (user rules).
    """

    name: str
    args: Sequence[Any]
    kwargs: Mapping[str, Any]
    outputs: Sequence[Any]  # output tensors (meta)

    def get(self, name: str, default: Any = None) -> Any:
        """Argument ``name`` of this call (by the op's signature in :mod:`layerscope.rules.table`)."""
        value = bind(self.name, self.args, self.kwargs).get(name, default)
        return default if value is None and default is not None else value

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        if name in self.kwargs:
            return self.kwargs[name]
        if index < len(self.args):
            return self.args[index]
        return default

    @property
    def out(self) -> Any:
        return self.outputs[0]


Rule = Callable[[Call], OpCost]
_COSTS: dict[str, Rule] = {}  # the op table's cost keys -> the built-in rules (layerscope.rules.ops)
_RULES: dict[str, Rule] = {}  # op names -> rules registered with @rule (ops the table does not cost)


def cost(key: str) -> Callable[[Rule], Rule]:
    """Register ``fn`` as the forward cost rule of every op whose table entry has ``cost=key``."""

    def register(fn: Rule) -> Rule:
        if key in _COSTS:
            raise ValueError(f"duplicate cost rule {key!r}: {fn.__name__} and {_COSTS[key].__name__}")
        if not any(s.cost == key for s in OPS.values()):
            raise ValueError(f"no op in the op table has cost={key!r}")
        _COSTS[key] = fn
        return fn

    return register


#: a backward rule sees the forward call (its tensors carry ``requires_grad``) and the forward cost
BackwardRule = Callable[[Call, OpCost], OpCost]
_BACKWARD: dict[str, BackwardRule] = {}  # backward keys -> rules (rules/backward.py)


def backward_rule(*keys: str) -> Callable[[BackwardRule], BackwardRule]:
    """Register ``fn`` as the backward cost rule of every op whose table entry has ``backward=key`` (by
    default the entry's forward ``cost`` key), for each of ``keys``; a key registered twice, or one that no
    entry of the op table has, is refused."""

    def register(fn: BackwardRule) -> BackwardRule:
        for key in keys:
            if key in _BACKWARD:
                raise ValueError(f"duplicate backward rule {key!r}: {fn.__name__} and {_BACKWARD[key].__name__}")
            if not any((s.backward or s.cost) == key for s in OPS.values()):
                raise ValueError(f"no op in the op table has backward (or cost) key {key!r}")
            _BACKWARD[key] = fn
        return fn

    return register


def lookup_backward(name: str) -> BackwardRule | None:
    """The backward cost rule of canonical op ``name`` (None: none registered, unknown, never zero)."""
    entry = OPS.get(name)
    if entry is None:
        return None
    key = entry.backward or entry.cost
    return _BACKWARD.get(key) if key is not None else None


def rule(*names: str) -> Callable[[Rule], Rule]:
    """Register ``fn`` as the rule of every op in ``names``; a name that already has a rule (built-in or
    registered) is refused."""

    def register(fn: Rule) -> Rule:
        for name in names:
            if lookup(name) is not None:
                raise ValueError(f"duplicate rule for op {name!r}: {fn.__name__} and {lookup(name).__name__}")  # type: ignore[union-attr]
            _RULES[name] = fn
        return fn

    return register


def lookup(name: str) -> Rule | None:
    got = _RULES.get(name)
    if got is not None:
        return got
    entry = OPS.get(name)
    return _COSTS.get(entry.cost) if entry is not None and entry.cost is not None else None


def registered_ops() -> frozenset[str]:
    return frozenset(_RULES) | frozenset(n for n, s in OPS.items() if s.cost in _COSTS)


_REFLECTED = {"radd", "rsub", "rmul", "rmatmul", "rtruediv", "rfloordiv", "rpow", "rdiv", "rand", "ror", "rxor", "rmod"}
_INPLACE = {"iadd", "isub", "imul", "imatmul", "itruediv", "ifloordiv", "ipow", "idiv", "iand", "ior", "ixor", "imod"}
_DUNDER_ALIASES = {"truediv": "div", "floordiv": "floor_divide", "and": "bitwise_and", "or": "bitwise_or",
                   "xor": "bitwise_xor", "mod": "remainder", "invert": "bitwise_not", "concat": "cat",
                   "concatenate": "cat", "clip": "clamp", "divide": "div", "multiply": "mul", "subtract": "sub",
                   "absolute": "abs", "negative": "neg", "swapaxes": "transpose", "swapdims": "transpose",
                   "moveaxis": "movedim", "true_divide": "div", "relu6": "relu6", "hardtanh": "hardtanh"}


def canonical_name(func: Any) -> tuple[str, bool]:
    """``(name, inplace)`` for a function seen by the tracer: ``Tensor.__iadd__`` -> ``("add", True)``."""
    name = getattr(func, "__name__", None)
    if name is None:
        name = type(func).__name__
    if name == "__get__":  # property getters such as Tensor.T
        owner = getattr(func, "__self__", None)
        name = getattr(owner, "__name__", name)
    inplace = False
    if name.startswith("__") and name.endswith("__"):
        core = name[2:-2]
        if core in _INPLACE:
            core, inplace = core[1:], True
        elif core in _REFLECTED:
            core = core[1:]
        name = core
    elif name.endswith("_") and not name.startswith("_"):
        name, inplace = name[:-1], True
    return _DUNDER_ALIASES.get(name, name), inplace
