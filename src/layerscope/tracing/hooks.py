"""The user's own forward hooks on the meta copy: kept, but unable to derail the analysis.

Decision: hooks registered on the model's modules (``register_forward_hook``, ``register_forward_pre_hook``)
run during the trace, because a hook that returns a value changes what the model computes (and PyTorch's own
legacy ``weight_norm``/``spectral_norm`` are pre-hooks). Each user hook is wrapped on the meta copy (the
user's model is untouched):

- a hook that returns None only observes (logging, statistics): its ops are not the model's, so whatever it
  recorded (nodes, scopes, failures) is dropped;
- a hook that raises (typically ``.item()``/``.tolist()``/``numpy()`` on a meta tensor, which has no values)
  is skipped as if it had returned None, and the analysis continues; the failure is attributed to the hook
  in an LS125 info finding instead of failing the model.

Hooks defined inside torch (lazy-module shape inference, legacy weight/spectral norm) are not wrapped.
Global hooks (``register_module_forward_hook``) are not wrapped either. A hook still runs user code: one
that writes to a list closed over the *original* model does so once, with meta tensors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

_TORCH_DIR = os.path.dirname(torch.__file__)
_LS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class HookFailure:
    module: str
    kind: str  # "forward hook" | "forward pre-hook"
    hook: str
    exception: str
    message: str
    source: str | None = None


def _is_torch_hook(hook: Any) -> bool:
    fn = getattr(hook, "__func__", hook)
    mod = getattr(fn, "__module__", None) or getattr(type(fn), "__module__", "") or ""
    return mod == "torch" or mod.startswith("torch.")


def _hook_name(hook: Any) -> str:
    return getattr(hook, "__qualname__", None) or getattr(hook, "__name__", None) or type(hook).__name__


def _snapshot(tracer: Any) -> tuple:
    top = tracer.stack[-1] if tracer.stack else None
    return (len(tracer.nodes), len(tracer.scopes), len(tracer.errors), tracer.failure, dict(tracer.counters),
            set(tracer.counted_names), dict(tracer.calls), top, len(top.ops) if top is not None else 0,
            len(tracer.stack))


def _restore(tracer: Any, snap: tuple) -> None:
    n_nodes, n_scopes, n_errors, failure, counters, counted, calls, top, n_ops, depth = snap
    if len(tracer.nodes) > n_nodes:
        stale = [k for k, v in tracer.producer.items() if v[0] >= n_nodes]
        for k in stale:
            del tracer.producer[k]
        del tracer.nodes[n_nodes:]
    del tracer.scopes[n_scopes:]
    del tracer.errors[n_errors:]
    tracer.failure = failure
    tracer.counters.clear()
    tracer.counters.update(counters)
    tracer.counted_names.clear()
    tracer.counted_names.update(counted)
    tracer.calls.clear()
    tracer.calls.update(calls)
    if top is not None:
        del top.ops[n_ops:]
    del tracer.stack[depth:]


def _guard(tracer: Any, hook: Callable[..., Any], module: str, kind: str) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        snap = _snapshot(tracer)
        try:
            out = hook(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the user's hook, not the model, failed
            _restore(tracer, snap)
            tracer.hook_failures.append(HookFailure(module, kind, _hook_name(hook), type(exc).__name__,
                                                    str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                                                    source_of(exc)))
            return None
        if out is None:
            _restore(tracer, snap)
        return out

    guarded.__wrapped__ = hook  # type: ignore[attr-defined]
    return guarded


def guard_user_hooks(work: nn.Module, tracer: Any) -> None:
    """Wrap every user forward (pre-)hook of the meta copy ``work`` (see the module docstring)."""
    for name, m in work.named_modules(remove_duplicate=False):
        label = name or type(m).__name__
        for attr, kind in (("_forward_pre_hooks", "forward pre-hook"), ("_forward_hooks", "forward hook")):
            hooks = getattr(m, attr, None)
            if not hooks:
                continue
            for key, hook in list(hooks.items()):
                if getattr(hook, "__wrapped__", None) is not None or _is_torch_hook(hook):
                    continue
                hooks[key] = _guard(tracer, hook, label, kind)


def source_of(exc: BaseException) -> str | None:
    """The innermost traceback line of ``exc`` in the user's code (not torch, not layerscope)."""
    tb = exc.__traceback__
    last = None
    while tb is not None:
        fn = tb.tb_frame.f_code.co_filename
        if not (fn.startswith(_TORCH_DIR) or fn.startswith(_LS_DIR)):
            last = f"{fn}:{tb.tb_lineno}"
        tb = tb.tb_next
    return last
