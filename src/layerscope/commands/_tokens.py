"""Command-line inputs for token, audio and multimodal models: ``--tokens``, ``--kwarg``, ``--seq-len``, ``--dtype``.

Grammar (``layerscope analyze hf:LlamaConfig --tokens 1x2048``):

- ``--tokens SHAPE``: integer token ids, ``2048`` (one sequence) or ``NxT`` (batch, tokens as written). A
  Hugging Face model gets them as ``input_ids`` (and ``decoder_input_ids`` for an encoder-decoder).
- ``--kwarg NAME=VALUE`` (repeatable): a keyword input of the forward. ``VALUE`` is a tensor when it is a shape
  with an ``x`` or a ``:DTYPE`` suffix (``input_ids=1x128:long``, ``attention_mask=1x128:long``,
  ``pixel_values=1x3x224x224``, ``ids=128:long``), else a Python value (``use_cache=false``, ``top_k=2``,
  ``mode=none``, ``name=text``).
- ``--seq-len T``: the sequence length of the model's own default input (a Hugging Face model with no
  ``--tokens``/``--kwarg``/``--input-size``); ``layerscope scale --seq-len 128 512 2048`` scales over it.
- ``--dtype D``: ``float32``/``fp32``, ``float16``/``fp16``/``half``, ``bfloat16``/``bf16``, ``long``/``int64``,
  ``int32``, ``bool``: the dtype of ``--input-size`` tensors and of floating ``--kwarg`` tensors.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ConfigError

DTYPES = {
    "float32": "float32", "fp32": "float32", "float": "float32", "float16": "float16", "fp16": "float16",
    "half": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16", "float64": "float64", "double": "float64",
    "long": "int64", "int64": "int64", "int": "int64", "int32": "int32", "int16": "int16", "int8": "int8",
    "uint8": "uint8", "bool": "bool",
}


def add_token_arguments(parser: argparse.ArgumentParser, *, seq_len_many: bool = False) -> None:
    group = parser.add_argument_group("token, audio and multimodal inputs")
    group.add_argument("--tokens", default=None, metavar="SHAPE",
                       help="integer token ids: T or NxT (batch, tokens), e.g. --tokens 1x2048")
    group.add_argument("--kwarg", action="append", default=None, metavar="NAME=VALUE",
                       help="a keyword input: NAME=SHAPE[:DTYPE] for a tensor (input_ids=1x128:long), "
                            "else a Python value (use_cache=false); repeatable")
    group.add_argument("--seq-len", type=int, nargs="+" if seq_len_many else None, default=None, metavar="T",
                       help=("sequence lengths to scale over (token models: 1xT ids)" if seq_len_many else
                             "sequence length of the model's own default input (default 128)"))
    group.add_argument("--dtype", default=None, metavar="DTYPE",
                       help="dtype of --input-size tensors and floating --kwarg tensors (fp16, bf16, long...)")


def parse_dtype(text: str | None) -> Any:
    if text is None:
        return None
    import torch

    key = DTYPES.get(text.lower().removeprefix("torch."))
    if key is None:
        raise ConfigError(f"unknown dtype {text!r}", hint="use one of " + ", ".join(sorted(set(DTYPES))),
                          code="LS993")
    return getattr(torch, key)


def _shape(text: str, what: str) -> tuple[int, ...]:
    parts = text.lower().replace(",", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not a shape like 1x128", hint="e.g. --tokens 1x2048 or "
                          "--kwarg input_ids=1x128:long", code="LS993") from None
    if not dims or any(d < 1 for d in dims):
        raise ConfigError(f"{what} {text!r} has a size below 1", hint="every size must be >= 1", code="LS993")
    return dims


def parse_tokens(text: str) -> tuple[int, int]:
    dims = _shape(text, "--tokens")
    if len(dims) == 1:
        return (1, dims[0])
    if len(dims) == 2:
        return (dims[0], dims[1])
    raise ConfigError(f"--tokens {text!r} must be T or NxT", hint="e.g. --tokens 2048 or --tokens 4x512",
                      code="LS993")


def _python_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def parse_kwarg(text: str) -> tuple[str, Any]:
    """``input_ids=1x128:long`` -> ("input_ids", meta long tensor (1, 128)); ``use_cache=false`` -> False."""
    name, eq, value = text.partition("=")
    name = name.strip()
    if not eq or not name.isidentifier():
        raise ConfigError(f"--kwarg {text!r} is not NAME=VALUE", hint="e.g. --kwarg input_ids=1x128:long or "
                          "--kwarg use_cache=false", code="LS993")
    shape_text, colon, dtype_text = value.partition(":")
    is_tensor = bool(colon) or ("x" in shape_text.lower() and shape_text.lower().replace("x", "").isdigit())
    if not is_tensor:
        return name, _python_value(value)
    import torch

    dtype = parse_dtype(dtype_text) if colon else torch.float32
    return name, torch.empty(_shape(shape_text, f"--kwarg {name}"), dtype=dtype, device="meta")


def analyze_inputs(args: argparse.Namespace, size: Any = None) -> dict[str, Any]:
    """The input keywords of :func:`layerscope.analyze` from ``-s``/``--tokens``/``--kwarg``/``--seq-len``/``--dtype``
    (``size``: the already-parsed ``--input-size``, or None)."""
    import torch

    dtype = parse_dtype(getattr(args, "dtype", None))
    kwargs = dict(parse_kwarg(k) for k in (getattr(args, "kwarg", None) or []))
    tokens = getattr(args, "tokens", None)
    seq_len = getattr(args, "seq_len", None)
    if isinstance(seq_len, list):
        seq_len = seq_len[0] if len(seq_len) == 1 else None
    if tokens is not None and size is not None:
        raise ConfigError("give --tokens or --input-size, not both", hint="--tokens is the token-id shape",
                          code="LS993")
    out: dict[str, Any] = {"batch_size": getattr(args, "batch_size", None), "mode": getattr(args, "mode", "eval")}
    if tokens is not None:
        out["input_size"] = parse_tokens(tokens)
        out["dtype"] = torch.long
    elif size is not None:
        out["input_size"] = size
        out["dtype"] = dtype
    elif dtype is not None:
        out["dtype"] = dtype
    if kwargs:
        out["kwargs"] = kwargs
    if seq_len is not None:
        out["seq_len"] = seq_len
    return out


def command_line_parts(args: argparse.Namespace) -> list[str]:
    """The token options as they were given, for a report header's regenerate-command line."""
    parts: list[str] = []
    if getattr(args, "tokens", None):
        parts += ["--tokens", args.tokens]
    for k in getattr(args, "kwarg", None) or []:
        parts += ["--kwarg", k]
    seq = getattr(args, "seq_len", None)
    if seq is not None:
        parts += ["--seq-len", *(str(s) for s in (seq if isinstance(seq, list) else [seq]))]
    if getattr(args, "dtype", None):
        parts += ["--dtype", args.dtype]
    return parts
