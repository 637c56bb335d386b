"""One exception hierarchy. Every error carries a stable ``code`` and a ``hint`` that says what to do."""

from __future__ import annotations

from typing import Any


class LayerscopeError(Exception):
    """Base class of every error layerscope raises on purpose.

    Codes (LS1xx-LS5xx are diagnostics, see ``layerscope.diagnostics``):

    - LS900 unexpected internal error (the CLI's last resort); LS91x the input specification
      (LS912 a size or batch below 1, LS919 a batch_size that contradicts the shape's batch);
      LS92x loading a model SPEC (LS927 the model's forward called sys.exit()); LS93x tracing;
    - LS93x tracing: LS931 the model cannot be deep-copied, LS932 ``strict=True`` and the trace failed,
      LS933 a TorchScript model (analyze the eager module), LS934 an ``analyze()`` keyword it does not have
      (torchinfo's ``depth=``/``input_data=``/``dtypes=``/``device=``), LS935 lazy parameters the input cannot
      materialize;
    - LS94x options: LS941 a CLI input size, LS942-LS944 output-size arguments, LS945 report schema,
      LS946 diagnostic code selection, LS947 a budget quantity, LS948 ``--fail-on``, LS949 ``[tool.layerscope]``;
    - LS95x a missing optional dependency;
    - LS96x API and command misuse: LS960 a command without a model or input size, LS961 report format,
      LS962/LS963 receptive-field queries (no output, unknown module), LS964 compare names, LS965 sweep
      columns, LS966 diff input size, LS967/LS968 effective receptive field (arguments, memory limit);
    - LS970 an output path that cannot be written; LS971 a report file that cannot be read; LS972 a file that
      is not a layerscope JSON report; LS973 a scaling study with fewer than two resolutions; LS974 a sweep
      ``build`` that cannot be pickled for the worker processes.

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
