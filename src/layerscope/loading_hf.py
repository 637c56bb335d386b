"""``hf:`` SPECs: a Hugging Face ``transformers`` model built from a config, never from downloaded weights.

Grammar::

    hf:TARGET[?KEY=VALUE[&KEY=VALUE...]]

``TARGET`` is one of

- a folder holding a ``config.json`` (a local checkout of a hub repository; only the config is read), or the
  path of a ``.json`` config file: the model class is the file's ``architectures[0]``, else the base model;
- a config class name (``LlamaConfig``) or a ``model_type`` (``llama``): the base model of that config
  (``AutoModel``, e.g. ``LlamaModel``);
- a model class name (``LlamaForCausalLM``, ``BertModel``, ``WhisperForConditionalGeneration``): that class
  with its config's defaults.

``KEY=VALUE`` pairs override config fields before the model is built (so derived fields such as ``head_dim``
follow). ``VALUE`` is JSON (``2``, ``0.1``, ``true``, ``null``, ``[1, 2]``, ``"text"``) or else a bare string;
a dotted key sets a field of a sub-config (``text_config.hidden_size=256``). An unknown key is an error (a
typo would otherwise be silently ignored by the config). Examples::

    hf:LlamaConfig?num_hidden_layers=2&hidden_size=256
    hf:LlamaForCausalLM?num_hidden_layers=32&attn_implementation=eager
    hf:./checkpoints/llama-2-7b            (a folder with config.json; no weights are read)

The model is built under ``torch.device("meta")`` (no weight memory, so a 7B config costs nothing), falling back
to the CPU for constructors that need real values. Offline: nothing is downloaded.
"""

from __future__ import annotations

import difflib
import json
import os
from typing import Any
from urllib.parse import unquote

from .errors import ModelLoadError

PREFIX = "hf:"


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise ModelLoadError("hf: SPECs need the transformers package, which is not installed",
                             hint="pip install transformers", code="LS994") from exc
    return transformers


def _value(text: str) -> Any:
    text = unquote(text)
    try:
        return json.loads(text)
    except ValueError:
        low = text.lower()
        if low in ("true", "false"):
            return low == "true"
        if low in ("none", "null"):
            return None
        return text


def parse_hf_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``hf:LlamaConfig?a=1&b.c=true`` -> ("LlamaConfig", {"a": 1, "b": {"c": True}})."""
    body = spec[len(PREFIX):] if spec.startswith(PREFIX) else spec
    target, _, query = body.partition("?")
    target = target.strip()
    if not target:
        raise ModelLoadError(f"{spec!r} names no config or model", hint="e.g. hf:LlamaConfig?num_hidden_layers=2",
                             code="LS995")
    overrides: dict[str, Any] = {}
    for pair in filter(None, query.split("&")):
        key, eq, value = pair.partition("=")
        key = key.strip()
        if not eq or not key or not all(part.isidentifier() for part in key.split(".")):
            raise ModelLoadError(f"override {pair!r} in {spec!r} is not KEY=VALUE",
                                 hint="e.g. hf:LlamaConfig?num_hidden_layers=2&hidden_size=256", code="LS996")
        node = overrides
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ModelLoadError(f"override {key!r} in {spec!r} sets a field of a non-config value",
                                     hint="dotted keys address sub-configs, e.g. text_config.hidden_size=256",
                                     code="LS996")
        node[parts[-1]] = _value(value)
    return target, overrides


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


# kwargs every config accepts that are not attributes under the same name
_CONFIG_KWARGS = {"attn_implementation", "experts_implementation", "torch_dtype", "dtype"}


def _check_keys(config_cls: Any, overrides: dict[str, Any], spec: str, prefix: str = "") -> None:
    try:
        default = config_cls()
    except Exception:  # a config that needs arguments: let its own constructor judge
        return
    for key, value in overrides.items():
        if key in _CONFIG_KWARGS:
            continue
        if not hasattr(default, key):
            known = [k for k in default.to_dict() if not k.startswith("_")]
            near = difflib.get_close_matches(key, known, n=3)
            raise ModelLoadError(
                f"{config_cls.__name__} has no field {prefix + key!r} (in {spec!r})"
                + (f"; did you mean {', '.join(near)}?" if near else ""),
                hint="override fields the config defines (see its documentation or "
                     f"{config_cls.__name__}().to_dict())", code="LS996")
        sub = getattr(default, key, None)
        if isinstance(value, dict) and sub is not None and hasattr(sub, "to_dict"):
            _check_keys(type(sub), value, spec, prefix + key + ".")


def _read_config_file(target: str) -> dict[str, Any]:
    path = os.path.join(target, "config.json") if os.path.isdir(target) else target
    if not os.path.isfile(path):
        raise ModelLoadError(f"no config.json in {target}" if os.path.isdir(target) else f"no such folder or file: {target}",
                             hint="hf: takes a folder with a config.json, a .json config file, or a config/model "
                                  "class name such as LlamaConfig", code="LS997")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not a readable JSON config: {exc}", hint="check the file",
                             code="LS997") from exc
    if not isinstance(data, dict) or "model_type" not in data:
        raise ModelLoadError(f"{path} has no \"model_type\"", hint="a transformers config.json names its model_type",
                             code="LS997")
    return data


def _resolve_name(tf: Any, name: str, spec: str) -> tuple[Any, Any]:
    """``(config_class, model_class or None)`` for a config class, model class or model_type name."""
    from transformers import CONFIG_MAPPING

    obj = getattr(tf, name, None) if name.isidentifier() else None
    if obj is not None and isinstance(obj, type):
        if issubclass(obj, tf.PretrainedConfig):
            return obj, None
        config_cls = getattr(obj, "config_class", None)
        if issubclass(obj, tf.PreTrainedModel) and config_cls is not None:
            return config_cls, obj
    if name in CONFIG_MAPPING:
        return CONFIG_MAPPING[name], None
    options = [n for n in dir(tf) if n.endswith(("Config", "Model", "ForCausalLM", "ForConditionalGeneration"))]
    near = difflib.get_close_matches(name, options + list(CONFIG_MAPPING.keys()), n=3)
    raise ModelLoadError(f"transformers has no config, model class or model_type {name!r} (in {spec!r})"
                         + (f"; did you mean {', '.join(near)}?" if near else ""),
                         hint="e.g. hf:LlamaConfig, hf:LlamaForCausalLM, hf:llama or hf:path/to/folder", code="LS995")


def build_config(spec: str) -> tuple[Any, Any]:
    """``(config, model_class or None)`` for an ``hf:`` SPEC (no model is built)."""
    tf = _transformers()
    target, overrides = parse_hf_spec(spec)
    model_cls = None
    if os.path.exists(target) or target.endswith(".json") or os.sep in target or "/" in target:
        data = _read_config_file(target)
        from transformers import CONFIG_MAPPING

        model_type = data["model_type"]
        if model_type not in CONFIG_MAPPING:
            raise ModelLoadError(f"transformers {tf.__version__} does not know model_type {model_type!r}",
                                 hint="upgrade transformers, or name a config class", code="LS995")
        config_cls = CONFIG_MAPPING[model_type]
        archs = data.get("architectures") or []
        if archs and isinstance(getattr(tf, archs[0], None), type):
            model_cls = getattr(tf, archs[0])
        _check_keys(config_cls, overrides, spec)
        fields = {k: v for k, v in _merge(data, overrides).items() if k not in ("model_type", "transformers_version",
                                                                                "architectures")}
    else:
        config_cls, model_cls = _resolve_name(tf, target, spec)
        _check_keys(config_cls, overrides, spec)
        fields = overrides
    try:
        config = config_cls(**fields)
    except Exception as exc:
        raise ModelLoadError(f"{config_cls.__name__}({', '.join(f'{k}={v!r}' for k, v in fields.items())}) failed: "
                             f"{type(exc).__name__}: {exc}", hint="fix the overrides in the SPEC", code="LS996") from exc
    return config, model_cls


def load_hf(spec: str) -> Any:
    """Build the model of an ``hf:`` SPEC from its config (on meta when its constructor allows)."""
    import torch

    config, model_cls = build_config(spec)
    tf = _transformers()

    def build() -> Any:
        if model_cls is not None:
            return model_cls(config)
        return tf.AutoModel.from_config(config)

    try:
        try:
            with torch.device("meta"):
                return build()
        except ModelLoadError:
            raise
        except Exception:
            return build()
    except Exception as exc:
        raise ModelLoadError(f"building the model of {spec!r} failed: {type(exc).__name__}: {exc}",
                             hint="check the config overrides (e.g. hidden_size divisible by num_attention_heads)",
                             code="LS996") from exc
