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


class _UserArgv:
    """While the user's module is imported or its model built, ``sys.argv`` is just the file's name: the
    command line is layerscope's, not the model script's (an ``argparse`` at import must not read it)."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self) -> None:
        self.saved = sys.argv
        sys.argv = [self.name]

    def __exit__(self, *exc: Any) -> None:
        sys.argv = self.saved


def _exit_text(exc: SystemExit) -> str:
    return f"sys.exit({exc.code!r})" if exc.code is not None else "sys.exit()"


def _package_form(path: str, attr: str | None) -> str | None:
    """``mypkg.models:build`` for ``mypkg/models.py`` inside a package (folders with ``__init__.py``)."""
    folder, name = os.path.split(os.path.splitext(path)[0])
    parts = [name]
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        folder, pkg = os.path.split(folder)
        parts.insert(0, pkg)
    if len(parts) == 1:
        return None
    return ".".join(parts) + (f":{attr}" if attr else "")


def _import_target(target: str, attr: str | None = None, base_dir: str | None = None) -> Any:
    if target.endswith(".py") or os.sep in target or "/" in target:
        path = os.path.abspath(os.path.join(base_dir, target) if base_dir else target)
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
            with _UserArgv(path):
                spec.loader.exec_module(module)
        except SystemExit as exc:
            sys.modules.pop(mod_name, None)
            raise ModelLoadError(
                f"importing {target} called {_exit_text(exc)}: the file runs a script (often argparse reading "
                "the command line) when it is imported",
                hint="guard the script part with `if __name__ == \"__main__\":`, or move the model to a module "
                     "without side effects", code="LS922") from None
        except Exception as exc:
            sys.modules.pop(mod_name, None)
            hint = "fix the error in that file (run it with python to see the traceback, or pass --debug)"
            if isinstance(exc, ImportError) and "relative import" in str(exc):
                dotted = _package_form(path, attr)
                hint = (f"the file is part of a package: use the dotted form {dotted} (from the folder that "
                        "holds the package)" if dotted else
                        "the file uses relative imports (from .x import y), so it is part of a package: add "
                        "__init__.py files and use the dotted form pkg.module:attr")
            raise ModelLoadError(f"importing {target} failed: {type(exc).__name__}: {exc}", hint=hint,
                                 code="LS922") from exc
        finally:
            sys.path.remove(os.path.dirname(path))
        return module
    for folder in ([base_dir] if base_dir else []) + [os.getcwd()]:
        if folder not in sys.path and not (folder == os.getcwd() and "" in sys.path):
            sys.path.insert(0, folder)
    try:
        with _UserArgv(target):
            return importlib.import_module(target)
    except SystemExit as exc:
        raise ModelLoadError(
            f"importing {target} called {_exit_text(exc)}: the module runs a script (often argparse reading the "
            "command line) when it is imported",
            hint="guard the script part with `if __name__ == \"__main__\":`", code="LS922") from None
    except Exception as exc:
        raise ModelLoadError(f"cannot import module {target!r}: {type(exc).__name__}: {exc}",
                             hint="check the module path and that its package is installed or in the current folder",
                             code="LS922") from exc


def load_model(spec: str, *, base_dir: str | None = None) -> Any:
    """Build the ``nn.Module`` named by ``spec``. Relative file paths and modules are found in ``base_dir``
    (``[tool.layerscope]`` passes the folder of its pyproject.toml), else the current folder."""
    import torch

    if not isinstance(spec, str) or ":" not in spec:
        raise ModelLoadError(
            f"model spec {spec!r} is not of the form TARGET:NAME",
            hint="use pkg.module:attr, path/to/file.py:attr, torchvision:resnet50 or timm:resnet50", code="LS921",
        )
    if spec.startswith("hf:"):  # a Hugging Face model from its config (grammar: layerscope.loading_hf)
        from .loading_hf import load_hf

        return load_hf(spec)
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise ModelLoadError(f"model spec {spec!r} has an empty part", hint="e.g. torchvision:resnet50",
                             code="LS921")
    if target == "torchvision":
        return _torchvision(attr)
    if target == "timm":
        return _timm(attr)
    module = _import_target(target, attr, base_dir)
    obj: Any = module
    owner = target
    done: list[str] = []
    for part in attr.split("."):
        if not hasattr(obj, part):
            options = [n for n in dir(obj) if not n.startswith("_")]
            raise ModelLoadError(f"{owner} has no attribute {part!r}{_close(part, options)}",
                                 hint="name an nn.Module subclass or a function that returns a model", code="LS923")
        obj = getattr(obj, part)
        done.append(part)
        owner = f"{target}:{'.'.join(done)}"
    if isinstance(obj, torch.nn.Module):
        return obj
    if callable(obj):
        try:
            with _UserArgv(target):
                model = obj()
        except SystemExit as exc:
            raise ModelLoadError(f"building {spec} called {_exit_text(exc)}",
                                 hint="building the model must not exit; raise an exception instead, or wrap it in "
                                      "a zero-argument function that builds the model only", code="LS924") from None
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
