"""The rule registry: canonical op names -> rule functions. Duplicates are refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..geometry import WindowAxis


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
    """One op call as a rule sees it: the canonical name, raw arguments and the output tensors."""

    name: str
    args: Sequence[Any]
    kwargs: Mapping[str, Any]
    outputs: Sequence[Any]  # output tensors (meta)

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
_RULES: dict[str, Rule] = {}


def rule(*names: str) -> Callable[[Rule], Rule]:
    """Register ``fn`` as the rule of every op in ``names``; a name registered twice is a bug."""

    def register(fn: Rule) -> Rule:
        for name in names:
            if name in _RULES:
                raise ValueError(f"duplicate rule for op {name!r}: {fn.__name__} and {_RULES[name].__name__}")
            _RULES[name] = fn
        return fn

    return register


def lookup(name: str) -> Rule | None:
    return _RULES.get(name)


def registered_ops() -> frozenset[str]:
    return frozenset(_RULES)


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
