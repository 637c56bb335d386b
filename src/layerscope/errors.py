"""One exception hierarchy. Every error carries a stable ``code`` and a ``hint`` that says what to do."""

from __future__ import annotations

from typing import Any


class LayerscopeError(Exception):
    """Base class of every error layerscope raises on purpose.

    Codes: LS900 unexpected internal error (the CLI's last resort); LS91x the input specification; LS92x
    loading a model SPEC; LS93x tracing; LS94x options; LS95x missing dependencies and report plumbing; LS96x API
    and command misuse. Every code, with its title and the module that raises it, is one line of
    :data:`layerscope.codes.TABLE` (``layerscope rule --all`` lists them).

    ``code`` is stable (programs branch on it), ``message`` says what went wrong and ``hint`` what to do.
    """

    code: str = "LS900"

    def __init__(self, message: str, *, hint: str = "", code: str | None = None, diagnostic: Any = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code
        self.diagnostic = diagnostic

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class InputSpecError(LayerscopeError, ValueError):
    """The ``input_size`` / ``inputs`` given to :func:`layerscope.analyze` cannot be understood."""

    code = "LS910"


class ModelLoadError(LayerscopeError):
    """A model SPEC (``pkg.mod:attr``, ``file.py:attr``, ``torchvision:name``) could not be loaded."""

    code = "LS920"


class TraceError(LayerscopeError):
    """The model's forward pass failed while tracing (shape bugs are diagnostics; this is the strict form)."""

    code = "LS930"


class ConfigError(LayerscopeError, ValueError):
    """Bad options or configuration (CLI flags, ``[tool.layerscope]``)."""

    code = "LS940"


class MissingDependencyError(LayerscopeError, ImportError):
    """An optional dependency needed for this feature is not installed."""

    code = "LS950"


def require(module: str, feature: str) -> Any:
    """Import an optional dependency, or raise a coded error naming the pip package to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised by environment
        package = module.split(".")[0]
        raise MissingDependencyError(
            f"{feature} needs the '{package}' package, which is not installed ({exc}).",
            hint=f"pip install {package}",
        ) from exc
