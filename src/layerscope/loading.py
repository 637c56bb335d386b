"""Load a model from a SPEC string: ``pkg.module:attr``, ``path/to/file.py:attr``, ``torchvision:NAME``,
``timm:NAME``. ``attr`` is an ``nn.Module`` subclass (built with no arguments), a zero-argument callable
returning a module, or a module instance. torchvision and timm models are built with no weights."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import sys
from typing import Any

from .errors import ModelLoadError


def _close(name: str, options: list[str]) -> str:
    near = difflib.get_close_matches(name, options, n=3)
    return f"; did you mean {', '.join(near)}?" if near else ""


def _build_on_meta_first(build: Any) -> Any:
    """Build under ``torch.device('meta')`` (no weight memory); fall back to CPU for constructors that
    need real values (torchvision's RegNet calls ``.tolist()``)."""
    import torch

    try:
        with torch.device("meta"):
            return build()
    except Exception:
        return build()


def _torchvision(name: str) -> Any:
    try:
        import torchvision
    except ImportError as exc:
        raise ModelLoadError("torchvision is not installed", hint="pip install torchvision", code="LS922") from exc
    names = torchvision.models.list_models()
    if name not in names:
        raise ModelLoadError(f"torchvision has no model {name!r}{_close(name, names)}",
                             hint="list them with torchvision.models.list_models()", code="LS926")
    import inspect

    kwargs: dict[str, Any] = {"weights": None}
    if "weights_backbone" in inspect.signature(torchvision.models.get_model_builder(name)).parameters:
        kwargs["weights_backbone"] = None  # segmentation/detection builders would download a backbone
    return _build_on_meta_first(lambda: torchvision.models.get_model(name, **kwargs))


def _timm(name: str) -> Any:
    try:
        import timm
    except ImportError as exc:
        raise ModelLoadError("timm is not installed", hint="pip install timm", code="LS922") from exc
    names = timm.list_models()
    if name not in names:
        raise ModelLoadError(f"timm has no model {name!r}{_close(name, names)}",
                             hint="list them with timm.list_models('pattern*')", code="LS926")
    return _build_on_meta_first(lambda: timm.create_model(name, pretrained=False))


def _import_target(target: str) -> Any:
    if target.endswith(".py") or os.sep in target or "/" in target:
        path = os.path.abspath(target)
        if not os.path.isfile(path):
            raise ModelLoadError(f"no such file: {target}", hint="give a path to a .py file that defines the model",
                                 code="LS922")
        mod_name = "_layerscope_user_" + os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(mod_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        # the file's own folder first, so that its sibling imports work
        sys.path.insert(0, os.path.dirname(path))
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(mod_name, None)
            raise ModelLoadError(f"importing {target} failed: {type(exc).__name__}: {exc}",
                                 hint="fix the error in that file (run it with python to see the traceback, "
                                      "or pass --debug)", code="LS922") from exc
        finally:
            sys.path.remove(os.path.dirname(path))
        return module
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(target)
    except Exception as exc:
        raise ModelLoadError(f"cannot import module {target!r}: {type(exc).__name__}: {exc}",
                             hint="check the module path and that its package is installed or in the current folder",
                             code="LS922") from exc


def load_model(spec: str) -> Any:
    """Build the ``nn.Module`` named by ``spec``."""
    import torch

    if not isinstance(spec, str) or ":" not in spec:
        raise ModelLoadError(
            f"model spec {spec!r} is not of the form TARGET:NAME",
            hint="use pkg.module:attr, path/to/file.py:attr, torchvision:resnet50 or timm:resnet50", code="LS921",
        )
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise ModelLoadError(f"model spec {spec!r} has an empty part", hint="e.g. torchvision:resnet50",
                             code="LS921")
    if target == "torchvision":
        return _torchvision(attr)
    if target == "timm":
        return _timm(attr)
    module = _import_target(target)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            options = [n for n in dir(obj) if not n.startswith("_")]
            raise ModelLoadError(f"{target} has no attribute {part!r}{_close(part, options)}",
                                 hint="name an nn.Module subclass or a function that returns a model", code="LS923")
        obj = getattr(obj, part)
    if isinstance(obj, torch.nn.Module):
        return obj
    if callable(obj):
        try:
            model = obj()
        except Exception as exc:
            raise ModelLoadError(f"building {spec} failed: {type(exc).__name__}: {exc}",
                                 hint="the attr must be buildable with no arguments; wrap it in a zero-argument "
                                      "function that passes the arguments you need", code="LS924") from exc
        if isinstance(model, torch.nn.Module):
            return model
        raise ModelLoadError(f"{spec} returned {type(model).__name__}, not a torch.nn.Module",
                             hint="the callable must return the model", code="LS925")
    raise ModelLoadError(f"{spec} is a {type(obj).__name__}, not a model", hint="name an nn.Module subclass, a "
                         "zero-argument callable returning one, or a module instance", code="LS925")
