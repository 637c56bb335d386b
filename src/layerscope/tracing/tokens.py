"""Inputs for token (text), audio and multimodal models: what ``analyze`` feeds a model that does not take a
float image batch.

- A model whose first layer is an ``nn.Embedding`` takes integer ids: ``input_size=2048``, ``(2048,)`` or
  ``(1, 2048)`` (shape as written: batch, tokens) becomes a ``long`` id tensor without ``dtype=torch.long``.
- A Hugging Face model (duck-typed: ``main_input_name`` and ``config``; transformers is never imported) gets its
  inputs by name: ``input_ids`` (plus ``decoder_input_ids`` for encoder-decoders, plus ``pixel_values`` for a
  text+vision model such as CLIP), ``pixel_values`` (``config.image_size``), ``input_features`` (Whisper:
  ``num_mel_bins`` x ``2 * max_source_positions`` frames). With no input at all the model's own default is used
  (:func:`default_inputs`, 128 tokens unless ``seq_len=``).
- ``inputs={...}`` dicts whose keys are the forward's parameters are keyword inputs (torchinfo's convention).
- ``batch_size=`` and ``dtype=`` apply to ``kwargs=`` too: dim 0 of every tensor becomes ``batch_size``;
  floating tensors take ``dtype`` (integer ids and masks keep theirs).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

DEFAULT_SEQ_LEN = 128


# ------------------------------------------------------------------------------------------------ detection
def first_leaf(model: nn.Module) -> nn.Module | None:
    """The first leaf module in registration order (the input layer of nearly every model)."""
    for m in model.modules():
        if not m._modules:
            return m
    return None


def takes_token_ids(model: nn.Module) -> bool:
    """True when the model's input layer is an ``nn.Embedding`` (or a Hugging Face model whose main input is
    ``input_ids``): its input is integer ids, not floats."""
    if _hf_main_input(model) == "input_ids":
        return True
    return isinstance(first_leaf(model), (nn.Embedding, nn.EmbeddingBag))


def _hf_main_input(model: nn.Module) -> str | None:
    name = getattr(type(model), "main_input_name", None)
    if isinstance(name, str) and getattr(model, "config", None) is not None:
        return name
    return None


def _forward_params(model: nn.Module) -> tuple[set[str], bool]:
    try:
        sig = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return set(), True
    names = {p.name for p in sig.parameters.values()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    var_kw = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    return names, var_kw


def _required_positional(model: nn.Module) -> list[str]:
    try:
        sig = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]


# ------------------------------------------------------------------------------------------------ building
def _cfg(config: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        v = getattr(config, n, None)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    return default


def _seq_len(config: Any, seq_len: int | None, *limits: str) -> int:
    if seq_len is not None:
        return int(seq_len)
    limit = _cfg(config, *limits, "max_position_embeddings", "n_positions", "n_ctx")
    return min(DEFAULT_SEQ_LEN, limit) if limit else DEFAULT_SEQ_LEN


def _ids(batch: int, length: int) -> torch.Tensor:
    return torch.empty(batch, length, dtype=torch.long, device="meta")


def _image(config: Any, batch: int) -> torch.Tensor | None:
    vision = getattr(config, "vision_config", None) or config
    size = getattr(vision, "image_size", None)
    if isinstance(size, (list, tuple)):
        h, w = int(size[0]), int(size[-1])
    elif isinstance(size, int):
        h = w = size
    else:
        return None
    channels = _cfg(vision, "num_channels", default=3)
    return torch.empty(batch, channels, h, w, device="meta")


def hf_inputs(model: nn.Module, *, batch: int = 1, seq_len: int | None = None,
              ids_shape: tuple[int, int] | None = None) -> dict[str, torch.Tensor] | None:
    """Keyword inputs for a Hugging Face model, sized from its config; None when the main input is unknown.

    ``ids_shape`` (batch, tokens) fixes the id tensors' shape (``--tokens``)."""
    main = _hf_main_input(model)
    if main is None:
        return None
    config = model.config
    params, var_kw = _forward_params(model)

    def accepts(name: str) -> bool:
        return name in params or var_kw

    if ids_shape is not None:
        batch, seq_len = ids_shape
    text_cfg = getattr(config, "text_config", None) or config
    out: dict[str, torch.Tensor] = {}
    if main == "input_ids":
        out["input_ids"] = _ids(batch, _seq_len(text_cfg, seq_len))
        if "pixel_values" in params and getattr(config, "vision_config", None) is not None:
            img = _image(config, batch)
            if img is not None:
                out["pixel_values"] = img
    elif main == "pixel_values":
        img = _image(config, batch)
        if img is None:
            return None
        out["pixel_values"] = img
    elif main == "input_features":
        mels = _cfg(config, "num_mel_bins", "feature_size")
        frames = _cfg(config, "max_source_positions")
        if not mels or not frames:
            return None
        # Whisper's conv front-end halves the frames: 2 * max_source_positions input frames (3000 for 1500)
        out["input_features"] = torch.empty(batch, mels, 2 * frames, device="meta")
    elif main == "input_values":
        out["input_values"] = torch.empty(batch, seq_len or 16000, device="meta")  # 1 s of 16 kHz audio
    else:
        return None
    if getattr(config, "is_encoder_decoder", False) and accepts("decoder_input_ids"):
        dec_cfg = getattr(config, "decoder", None) or config
        out["decoder_input_ids"] = _ids(batch, _seq_len(dec_cfg, seq_len, "max_target_positions"))
    return out


def default_inputs(model: nn.Module, *, batch_size: int | None = None,
                   seq_len: int | None = None) -> dict[str, torch.Tensor] | None:
    """The input a model declares for itself: a Hugging Face model's (see :func:`hf_inputs`), or a dict of
    tensors in ``model.dummy_inputs`` / ``model.example_inputs``; None when it declares none."""
    got = hf_inputs(model, batch=batch_size or 1, seq_len=seq_len)
    if got is not None:
        return got
    for attr in ("dummy_inputs", "example_inputs"):
        try:
            value = getattr(model, attr, None)
        except Exception:  # a property that needs something we do not have
            value = None
        if isinstance(value, dict) and value and all(isinstance(v, torch.Tensor) for v in value.values()):
            return resize(value, batch_size, None)
    return None


def token_ids_shape(spec: Any, batch_size: int | None) -> tuple[int, int] | None:
    """``2048`` / ``(2048,)`` -> (batch or 1, 2048); ``(N, T)`` -> as written (batch_size replaces N); else None."""
    if isinstance(spec, bool):
        return None
    if isinstance(spec, int):
        return (batch_size or 1, spec)
    if isinstance(spec, (tuple, list, torch.Size)) and all(isinstance(d, int) and not isinstance(d, bool)
                                                           for d in spec):
        if len(spec) == 1:
            return (batch_size or 1, int(spec[0]))
        if len(spec) == 2:
            return (batch_size or int(spec[0]), int(spec[1]))
    return None


def resize(kwargs: dict[str, Any], batch_size: int | None, dtype: torch.dtype | None) -> dict[str, Any]:
    """``batch_size`` as dim 0 of every tensor, ``dtype`` for floating tensors (ids and masks keep theirs)."""
    out: dict[str, Any] = {}
    for k, v in kwargs.items():
        if isinstance(v, torch.Tensor):
            if batch_size is not None and v.dim() >= 1 and v.shape[0] != batch_size:
                v = torch.empty((batch_size, *v.shape[1:]), dtype=v.dtype, device="meta")
            if dtype is not None and dtype.is_floating_point and v.is_floating_point() and v.dtype != dtype:
                v = torch.empty(v.shape, dtype=dtype, device="meta")
        out[k] = v
    return out


# ------------------------------------------------------------------------------------------------ the hook
def resolve_inputs(model: nn.Module, input_size: Any, inputs: Any, kwargs: dict[str, Any] | None,
                   batch_size: int | None, dtype: Any, seq_len: int | None = None
                   ) -> tuple[Any, Any, dict[str, Any] | None, int | None, Any]:
    """Rewrite ``analyze``'s input arguments for token/HF models; returns ``(input_size, inputs, kwargs,
    batch_size, dtype)`` for the general input builder (which turns everything into meta tensors)."""
    # inputs={...}: keyword inputs when the forward takes those names (else one positional dict, as before)
    if isinstance(inputs, dict) and inputs and all(isinstance(k, str) for k in inputs):
        params, var_kw = _forward_params(model)
        if set(inputs) <= params or (var_kw and not _required_positional(model)):
            kwargs = {**inputs, **(kwargs or {})}
            inputs = None
    if input_size is None and inputs is None and not kwargs:
        got = default_inputs(model, batch_size=batch_size, seq_len=seq_len)
        if got is not None:
            return None, None, resize(got, None, dtype if isinstance(dtype, torch.dtype) else None), None, None
        return input_size, inputs, kwargs, batch_size, dtype
    if input_size is not None and (dtype is None or dtype in (torch.long, torch.int64, torch.int32)):
        shape = token_ids_shape(input_size, batch_size)
        if shape is not None and takes_token_ids(model):
            hf = hf_inputs(model, ids_shape=shape) if _hf_main_input(model) == "input_ids" else None
            if hf is not None:
                return None, None, {**hf, **(kwargs or {})}, None, None
            ids = torch.empty(shape, dtype=dtype or torch.long, device="meta")
            return None, (ids,), kwargs, None, None
    if kwargs and (batch_size is not None or isinstance(dtype, torch.dtype)):
        from .inputs import _to_meta

        kwargs = resize(_to_meta(dict(kwargs)), batch_size,
                        dtype if isinstance(dtype, torch.dtype) else None)
        if input_size is None and inputs is None:
            return None, None, kwargs, None, None
    return input_size, inputs, kwargs, batch_size, dtype
