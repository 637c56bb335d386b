"""What the tracer is given before it copies the model: compiled wrappers are unwrapped, TorchScript refused.

- ``torch.compile(model)`` returns an ``OptimizedModule`` whose ``_orig_mod`` is the user's eager module.
  Tracing the wrapper would run dynamo on meta tensors (slow, dozens of recompile warnings) and prefix every
  row with ``_orig_mod.``; the eager module computes the same thing, so it is analyzed instead. Compiled
  submodules are unwrapped the same way on the meta copy (the user's model keeps its compiled children).
- A TorchScript module (``torch.jit.script`` / ``torch.jit.trace``) runs its graph in C++: its convs and
  linears never reach the ``TorchFunctionMode`` the tracer listens to, so the counts would be a silent zero.
  It is refused with a coded error (LS933) that says to analyze the eager module. The same holds for a
  scripted submodule inside an eager model.
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from torch import nn

from ..errors import TraceError


def _optimized_module_type() -> type | None:
    # dynamo is imported by torch.compile; a model can only be an OptimizedModule if that module is loaded,
    # so we never import dynamo ourselves (it is slow to import)
    mod = sys.modules.get("torch._dynamo.eval_frame")
    return getattr(mod, "OptimizedModule", None) if mod is not None else None


def unwrap_compiled(model: Any) -> Any:
    """``torch.compile(m)`` -> ``m`` (nested compiles too); any other model unchanged."""
    opt = _optimized_module_type()
    while opt is not None and isinstance(model, opt) and isinstance(getattr(model, "_orig_mod", None), nn.Module):
        model = model._orig_mod
    return model


def unwrap_compiled_children(work: nn.Module) -> None:
    """On the meta copy ``work``: replace every ``torch.compile``d submodule by its eager module, so the trace
    never enters dynamo and rows are named ``block.conv``, not ``block._orig_mod.conv``."""
    opt = _optimized_module_type()
    if opt is None:
        return
    for m in list(work.modules()):
        for name, child in list(m._modules.items()):
            if isinstance(child, opt):
                m._modules[name] = unwrap_compiled(child)


def refuse_script(model: nn.Module) -> None:
    """Raise LS933 when ``model`` (or a submodule) is TorchScript: its ops are invisible to the tracer."""
    script = torch.jit.ScriptModule
    for name, m in model.named_modules():
        if isinstance(m, script):
            where = "the model is" if not name else f"submodule {name!r} is"
            raise TraceError(
                f"{where} a TorchScript module ({type(m).__name__}): its ops run inside TorchScript, where "
                "layerscope cannot see them, so every count would be zero",
                hint="analyze the eager module instead (the nn.Module you passed to torch.jit.script / "
                     "torch.jit.trace)",
                code="LS933",
            )


def prepare_model(model: Any) -> Any:
    """The module to trace for ``model`` (unwrapped), after refusing what cannot be traced."""
    model = unwrap_compiled(model)
    if isinstance(model, nn.Module):
        refuse_script(model)
    return model
