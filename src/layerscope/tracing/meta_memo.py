"""Reuse a meta kernel's answer within one trace: the same op on the same tensor metadata makes the same outputs.

On meta tensors an op's result is a function of its arguments' metadata (shape, strides, storage offset,
dtype) and its plain arguments: there is no data. Many of PyTorch's meta kernels are Python decompositions
(``native_batch_norm`` and its backward take ~3 ms each in training mode, ~50x a convolution's C++ meta kernel),
and a network repeats a handful of layer shapes: ResNet-50's 53 batch norms have 12 distinct ones. A
:class:`MetaMemo` runs the kernel once per distinct call and, for a repeat, makes fresh outputs of the
recorded metadata (each output on a new storage of the recorded size), so every storage the live-storage
tracker sees has the size the kernel gave it: the numbers are the same, the kernel is not run again.

What is reused, checked once per op overload and once per recorded call:
- only functional ops: no argument or return of the schema aliases or writes (no views, no in-place, no
  ``out=``), and no tag that makes the output's shape depend on data (``dynamic_output_shape``,
  ``data_dependent_output``);
- only calls whose arguments all have a key: meta tensors (strided, no conj/neg bit), numbers, strings,
  None, dtypes, devices, layouts, memory formats, and lists of those (a SymInt or a generator: no key);
- only results that are tensors (or a tuple / list of tensors and None), each a plain meta tensor that is
  not a view and on a storage no argument owns.
Anything else runs the kernel every time. The memo lives for one trace (no global cache).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

_PLAIN = (int, float, bool, str, type(None), torch.dtype, torch.device, torch.layout, torch.memory_format)
# tags of ops whose outputs' shapes depend on data, or that change an argument's view metadata
_UNSAFE_TAGS = frozenset(t for t in (getattr(torch.Tag, n, None) for n in (
    "dynamic_output_shape", "data_dependent_output", "inplace_view")) if t is not None)


class _NoKey(Exception):
    pass


def _key(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        if x.device.type != "meta" or x.layout is not torch.strided or x.is_conj() or x.is_neg():
            raise _NoKey
        return (x.dtype, x.shape, x.stride(), x.storage_offset())
    if isinstance(x, _PLAIN):
        return (type(x), x)  # the type too: add(t, 1) and add(t, 1.0) promote differently, and 1 == 1.0
    if isinstance(x, (list, tuple)):
        return (type(x), tuple(_key(v) for v in x))
    raise _NoKey


def functional(func: Any) -> bool:
    """Whether ``func`` (an ``OpOverload``) makes new tensors from its arguments and nothing else."""
    schema = getattr(func, "_schema", None)
    if schema is None:
        return False
    if any(a.alias_info is not None for a in schema.arguments) or \
            any(r.alias_info is not None for r in schema.returns):
        return False
    if any(str(r.type) not in ("Tensor", "Tensor?") for r in schema.returns) or not schema.returns:
        return False
    return not (_UNSAFE_TAGS & set(getattr(func, "tags", ())))


class _Recipe:
    """The metadata of one call's outputs, to make fresh tensors like them."""

    __slots__ = ("single", "kind", "parts")

    def __init__(self, single: bool, kind: type, parts: list[tuple[Any, ...] | None]):
        self.single = single
        self.kind = kind
        self.parts = parts

    @classmethod
    def of(cls, out: Any, args: Any, kwargs: Any) -> "_Recipe | None":
        single = isinstance(out, torch.Tensor)
        items = [out] if single else out
        if not single and not isinstance(out, (tuple, list)):
            return None
        owned = {t.untyped_storage()._cdata for t in _tensor_args(args, kwargs)}
        parts: list[tuple[Any, ...] | None] = []
        seen: set[int] = set()
        for t in items:
            if t is None:
                parts.append(None)
                continue
            if type(t) is not torch.Tensor or t.device.type != "meta" or t.layout is not torch.strided \
                    or t._is_view() or t.is_conj() or t.is_neg():
                return None
            st = t.untyped_storage()
            if st._cdata in owned or st._cdata in seen:  # aliases an argument, or another output
                return None
            seen.add(st._cdata)
            shape, stride, offset, nbytes = tuple(t.shape), t.stride(), t.storage_offset(), st.nbytes()
            fresh = torch.empty_strided(shape, stride, dtype=t.dtype, device="meta")
            if offset == 0 and fresh.untyped_storage().nbytes() == nbytes:
                parts.append((shape, stride, t.dtype))  # the common case: the smallest storage for the strides
            else:
                parts.append((shape, stride, t.dtype, offset, nbytes))
        return cls(single, type(out), parts)

    def make(self) -> Any:
        outs = []
        for p in self.parts:
            if p is None:
                outs.append(None)
            elif len(p) == 3:
                outs.append(torch.empty_strided(p[0], p[1], dtype=p[2], device="meta"))
            else:
                shape, stride, dtype, offset, nbytes = p
                storage = torch.empty(nbytes, dtype=torch.uint8, device="meta").untyped_storage()
                outs.append(torch.empty(0, dtype=dtype, device="meta").set_(storage, offset, shape, stride))
        if self.single:
            return outs[0]
        return self.kind(outs)


def _tensor_args(args: Any, kwargs: Any) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []
    for x in (*args, *(kwargs or {}).values()):
        if isinstance(x, torch.Tensor):
            found.append(x)
        elif isinstance(x, (list, tuple)):
            found.extend(v for v in x if isinstance(v, torch.Tensor))
    return found


class MetaMemo:
    """Run ``func(*args, **kwargs)``, or rebuild its outputs when the same functional call was seen."""

    def __init__(self) -> None:
        self.ops: dict[Any, bool] = {}  # OpOverload -> functional
        self.results: dict[Any, _Recipe | None] = {}
        self.kernel_calls = 0  # kernels run (memo misses and ops that are not memoized)
        self.reused = 0

    def __call__(self, func: Callable[..., Any], args: tuple, kwargs: dict | None) -> Any:
        ok = self.ops.get(func)
        if ok is None:
            ok = self.ops[func] = functional(func)
        if not ok:
            self.kernel_calls += 1
            return func(*args, **(kwargs or {}))
        try:
            key = (func, _key(args), _key(tuple(kwargs.items())) if kwargs else None)
            recipe = self.results.get(key, False)
        except (_NoKey, TypeError):  # TypeError: an unhashable value (a SymInt)
            self.kernel_calls += 1
            return func(*args, **(kwargs or {}))
        if recipe:
            self.reused += 1
            return recipe.make()
        self.kernel_calls += 1
        out = func(*args, **(kwargs or {}))
        if recipe is False:
            self.results[key] = _Recipe.of(out, args, kwargs)
        return out


__all__ = ["MetaMemo", "functional"]
