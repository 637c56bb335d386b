"""``[tool.layerscope]`` in ``pyproject.toml``: the models ``layerscope check`` gates, and their budgets.

.. code-block:: toml

    [tool.layerscope]
    select = ["LS1", "LS3"]          # optional: code prefixes to report
    ignore = ["LS305"]               # optional
    fail-on = "error"                # or "warning"

    [[tool.layerscope.models]]
    spec = "examples.resnet:resnet50"
    input-size = 224                 # one size: 224, "3x224x224" or [3, 224, 224]
    input-sizes = [160, 224]         # or several (use one of the two keys)
    max-params = "30M"               # ints or strings with K/M/G (decimal) or KiB/MiB/GiB suffixes
    max-macs = "4.5G"
    max-activation-bytes = "200MiB"
    min-receptive-field = 200
    batch-size = 1                   # optional
    mode = "eval"                    # optional
    select = ["LS1"]                 # optional: this model's codes (replace the top-level select)
    ignore = ["LS303"]               # optional: replaces the top-level ignore for this model

Command-line ``--select`` / ``--ignore`` override both; within one selection the more specific prefix wins
(``layerscope.check.selected``).

Keys may be written with dashes or underscores. Parsing (:func:`parse_config`) is pure; only
:func:`load_config` touches the file system.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from .check import Budget, check_fail_on, parse_codes, parse_quantity
from .errors import ConfigError

_MODEL_KEYS = {"spec", "input_size", "input_sizes", "max_params", "max_macs", "max_activation_bytes",
               "min_receptive_field", "batch_size", "mode", "name", "select", "ignore"}
_TOP_KEYS = {"models", "select", "ignore", "fail_on"}


@dataclass(frozen=True)
class ModelConfig:
    """One model to check: its SPEC, the input sizes to check it at, and its budget."""

    spec: str
    input_sizes: tuple[Any, ...] = ()
    budget: Budget = field(default_factory=Budget)
    batch_size: int | None = None
    mode: str = "eval"
    name: str | None = None
    line: int | None = None  # where it is declared in the config file, for findings about the whole model
    base_dir: str | None = None  # the folder of the pyproject.toml: relative specs resolve against it
    index: int | None = None  # its number among the [[tool.layerscope.models]] entries (1-based)
    lines: Mapping[str, int] = field(default_factory=dict)  # budget key -> line, for budget findings
    select: tuple[str, ...] | None = None  # this model's code selection (None: the top-level one)
    ignore: tuple[str, ...] | None = None

    @property
    def where(self) -> str:
        """``[[tool.layerscope.models]] #2 (spec = "good.py:nope")``, for messages about this entry."""
        return f"[[tool.layerscope.models]] #{self.index} (spec = {self.spec!r})" if self.index else self.spec


@dataclass(frozen=True)
class CheckConfig:
    """The ``[tool.layerscope]`` table (empty when there is none)."""

    path: str | None = None
    models: tuple[ModelConfig, ...] = ()
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] | None = None
    fail_on: str | None = None

    def codes_for(self, spec: "str | ModelConfig | None") -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
        """``(select, ignore)`` for model ``spec`` (a SPEC or name, or the entry itself, which tells apart two
        entries of one SPEC): its own where it sets them, else the top-level ones."""
        m = spec if isinstance(spec, ModelConfig) or spec is None else self.model(spec)
        select = m.select if m is not None and m.select is not None else self.select
        ignore = m.ignore if m is not None and m.ignore is not None else self.ignore
        return select, ignore

    def model(self, spec: str) -> ModelConfig | None:
        for m in self.models:
            if m.spec == spec or m.name == spec:
                return m
        return None


def _dashed(key: str) -> str:
    """TOML keys are written with dashes (``max-params``); messages name them that way."""
    return key.replace("_", "-")


def _norm_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> dict[str, Any]:
    out = {}
    for k, v in table.items():
        key = k.replace("-", "_")
        if key not in allowed:
            import difflib

            near = difflib.get_close_matches(key, sorted(allowed), n=1)
            raise ConfigError(f"unknown key {k!r} in {where}"
                              + (f"; did you mean {_dashed(near[0])!r}?" if near else ""),
                              hint="allowed: " + ", ".join(sorted(_dashed(a) for a in allowed)), code="LS949")
        out[key] = v
    return out


def parse_size_value(value: Any, where: str) -> Any:
    """``224`` -> 224; ``"3x224x224"`` -> (3, 224, 224); ``[3, 224, 224]`` -> (3, 224, 224) (the grammar of
    :mod:`layerscope.sizes`, the same as ``--input-size``)."""
    from .sizes import parse_size

    return parse_size(value, where=where)


def _line_of(text: str | None, spec: str) -> int | None:
    if not text:
        return None
    for i, line in enumerate(text.splitlines(), 1):
        if "spec" in line and (f'"{spec}"' in line or f"'{spec}'" in line):
            return i
    return None


def _key_lines(text: str | None, spec_line: int | None, raw: Mapping[str, Any]) -> dict[str, int]:
    """The line of each key of one ``[[tool.layerscope.models]]`` entry (budget findings point at their
    ``max-params = ...`` line, not at ``spec = ...``)."""
    if not text or spec_line is None:
        return {}
    lines = text.splitlines()
    start = spec_line - 1
    while start > 0 and not lines[start].strip().startswith("["):
        start -= 1
    out: dict[str, int] = {}
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if stripped.startswith("[") and i != start:
            break
        key = stripped.split("=", 1)[0].strip().strip('"\'')
        if "=" in stripped and key in raw:
            out[key.replace("-", "_")] = i + 1
    return out


def parse_config(data: Mapping[str, Any], *, path: str | None = None, text: str | None = None) -> CheckConfig:
    """The :class:`CheckConfig` of a parsed ``pyproject.toml`` (a dict); ``text`` lets findings about a
    model point at the line that declares it."""
    table = data.get("tool", {}).get("layerscope")
    if table is None:
        return CheckConfig(path=path)
    where = f"[tool.layerscope] of {path or 'pyproject.toml'}"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table", code="LS949")
    top = _norm_keys(table, _TOP_KEYS, where)
    models = []
    raw_models = top.get("models", [])
    if not isinstance(raw_models, list):
        raise ConfigError(f"'models' in {where} must be an array of tables ([[tool.layerscope.models]])",
                          code="LS949")
    for i, raw in enumerate(raw_models):
        mwhere = f"[[tool.layerscope.models]] #{i + 1}"
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{mwhere} must be a table", code="LS949")
        m = _norm_keys(raw, _MODEL_KEYS, mwhere)
        spec = m.get("spec")
        if not isinstance(spec, str) or ":" not in spec:
            raise ConfigError(f"{mwhere} needs spec = \"pkg.module:attr\" (got {spec!r})",
                              hint="e.g. spec = \"torchvision:resnet18\" or spec = \"models/net.py:Net\"",
                              code="LS949")
        if "input_size" in m and "input_sizes" in m:
            raise ConfigError(f"{mwhere} has both input-size and input-sizes", hint="keep one", code="LS949")
        if "input_sizes" in m:
            if not isinstance(m["input_sizes"], list) or not m["input_sizes"]:
                raise ConfigError(f"input-sizes in {mwhere} must be a non-empty list", code="LS941")
            sizes = tuple(parse_size_value(v, mwhere) for v in m["input_sizes"])
        elif "input_size" in m:
            sizes = (parse_size_value(m["input_size"], mwhere),)
        else:
            sizes = ()
        budget = Budget(
            *(parse_quantity(m[k], what=f"{_dashed(k)} in {mwhere}") if k in m else None
              for k in ("max_params", "max_macs", "max_activation_bytes", "min_receptive_field")))
        mode = m.get("mode", "eval")
        if mode not in ("eval", "train"):
            raise ConfigError(f"mode {mode!r} in {mwhere} must be \"eval\" or \"train\"", code="LS949")
        batch = m.get("batch_size")
        if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
            raise ConfigError(f"batch-size {batch!r} in {mwhere} must be a positive int", code="LS949")
        line = _line_of(text, spec)
        models.append(ModelConfig(spec, sizes, budget, batch, mode, m.get("name"), line,
                                  os.path.dirname(os.path.abspath(path)) if path else None, i + 1,
                                  _key_lines(text, line, raw),
                                  parse_codes(m["select"]) if "select" in m else None,
                                  parse_codes(m["ignore"]) if "ignore" in m else None))
    fail_on = top.get("fail_on")
    if fail_on is not None:
        check_fail_on(fail_on)
    return CheckConfig(
        path=path, models=tuple(models),
        select=parse_codes(top["select"]) if "select" in top else None,
        ignore=parse_codes(top["ignore"]) if "ignore" in top else None,
        fail_on=fail_on,
    )


def find_pyproject(start: str | None = None) -> str | None:
    """The nearest ``pyproject.toml`` in ``start`` (default: the current folder) or a parent folder."""
    folder = os.path.abspath(start or os.getcwd())
    while True:
        candidate = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _toml() -> Any:
    try:
        import tomllib

        return tomllib
    except ImportError:  # Python 3.10
        from .errors import require

        return require("tomli", "reading pyproject.toml on Python 3.10")


def load_config(path: str | None = None) -> CheckConfig:
    """Read ``[tool.layerscope]`` from ``path`` (or the nearest pyproject.toml); empty when there is none."""
    if path is None:
        path = find_pyproject()
        if path is None:
            return CheckConfig()
    elif not os.path.isfile(path):
        raise ConfigError(f"no such config file: {path}", hint="pass --config path/to/pyproject.toml",
                          code="LS949")
    toml = _toml()
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        data = toml.loads(raw.decode("utf-8"))
    except (toml.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint="fix the file's syntax", code="LS949") from exc
    return parse_config(data, path=path, text=raw.decode("utf-8"))


__all__ = ["CheckConfig", "ModelConfig", "find_pyproject", "load_config", "parse_config", "parse_size_value"]
