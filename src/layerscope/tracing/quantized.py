"""Quantized models (``torch.ao.nn.quantized``, eager/FX converted, torchvision ``quantize=True``) on meta.

Quantized kernels do not run on meta tensors (there is no ``QuantizedMeta`` backend), and packed weights are
opaque ``ScriptObject``s. So the meta copy of a quantized model gets *shape twins*: every quantized module is
replaced by a leaf that runs the float op it computes (``QuantizedConvReLU2d`` -> conv2d + relu, ``QuantizedLinear``
-> linear, ``Quantize``/``DeQuantize`` -> identity, ``QFunctional`` -> ``FloatFunctional``) on meta tensors.
Output sizes, formulas, MACs and receptive fields are then the float model's; the twin's parameters are meta
tensors of the packed weights' dtype (``qint8``), so parameter bytes are the int8 model's. The twin keeps the
quantized type's name (``QuantizedConv2d``) in the table.

Activations are traced in float32 (a meta tensor cannot be quantized): activation bytes are the float model's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

_FLOAT_PREFIX = "torch.nn.modules."


def _ao() -> tuple[Any, Any, Any] | None:
    try:
        import torch.ao.nn.intrinsic.quantized as aiq
        import torch.ao.nn.quantized as aq
        import torch.ao.nn.quantized.dynamic as aqd
    except ImportError:  # pragma: no cover - very old torch
        return None
    return aq, aiq, aqd


def is_quantized_module(m: nn.Module) -> bool:
    return any(c.__module__.startswith(("torch.ao.nn.quantized", "torch.ao.nn.intrinsic.quantized"))
               for c in type(m).__mro__)


class QuantizedTwin(nn.Module):
    """A meta stand-in for one quantized module: the float computation, the packed weights' dtype."""

    _layerscope_twin = True
    kind = ""

    def __init__(self, source: nn.Module, kind: str, weight_shape: tuple[int, ...] | None, bias: bool,
                 weight_dtype: torch.dtype, post: str | None, config: dict[str, Any]):
        super().__init__()
        self.kind, self.post, self.config = kind, post, config
        self._w = self._b = None
        if weight_shape is not None:
            self.weight = nn.Parameter(torch.empty(weight_shape, dtype=weight_dtype, device="meta"),
                                       requires_grad=False)
            self._w = torch.empty(weight_shape, dtype=torch.float32, device="meta")  # what the math uses
        if bias:
            self.bias = nn.Parameter(torch.empty(weight_shape[0] if kind != "conv_transpose" else  # type: ignore
                                                 config["out_channels"], device="meta"), requires_grad=False)
            self._b = self.bias
        self.training = source.training
        self._name = source._get_name() if hasattr(source, "_get_name") else type(source).__name__
        # the table shows the quantized type's name (QuantizedConvReLU2d), not "QuantizedTwin"
        self.__class__ = type(self._name, (QuantizedTwin,), {"__module__": __name__})

    def _get_name(self) -> str:
        return self._name

    def forward(self, x: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        c = self.config
        if self.kind in ("identity",):
            return x
        if self.kind == "conv":
            n = self._w.dim() - 2  # type: ignore[union-attr]
            if c.get("padding_mode", "zeros") != "zeros":
                pad = [p for p in reversed(c["padding"]) for _ in range(2)]
                x = F.pad(x, pad, mode=c["padding_mode"])
                padding: Any = 0
            else:
                padding = c["padding"]
            conv = (F.conv1d, F.conv2d, F.conv3d)[n - 1]
            y = conv(x, self._w, self._b, c["stride"], padding, c["dilation"], c["groups"])
        elif self.kind == "conv_transpose":
            n = self._w.dim() - 2  # type: ignore[union-attr]
            conv_t = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[n - 1]
            y = conv_t(x, self._w, self._b, c["stride"], c["padding"], c["output_padding"], c["groups"],
                       c["dilation"])
        elif self.kind == "linear":
            y = F.linear(x, self._w, self._b)
        else:  # pragma: no cover - kinds are closed
            raise TypeError(self.kind)
        if extra:  # ConvAdd2d / ConvAddReLU2d: conv(x) + extra
            y = y + extra[0]
        if self.post == "relu":
            y = F.relu(y)
        elif self.post == "leaky_relu":
            y = F.leaky_relu(y, c.get("negative_slope", 0.01))
        elif self.post == "tanh":
            y = torch.tanh(y)
        return y


def _weight_bias(m: nn.Module) -> tuple[torch.dtype, bool]:
    """(weight dtype, has bias) of a packed module. Unpacks one layer's weights (int8, freed at once)."""
    try:
        w, b = m._weight_bias()  # type: ignore[operator]
    except Exception:  # an unusual packing: assume int8 with a bias (what conversion produces)
        return torch.qint8, True
    return w.dtype, b is not None


def _twin(m: nn.Module, mods: tuple[Any, Any, Any]) -> nn.Module | None:
    aq, aiq, aqd = mods
    post = None
    for cls, p in ((getattr(aiq, "ConvReLU1d", ()), "relu"), (getattr(aiq, "ConvReLU2d", ()), "relu"),
                   (getattr(aiq, "ConvReLU3d", ()), "relu"), (getattr(aiq, "ConvAddReLU2d", ()), "relu"),
                   (getattr(aiq, "LinearReLU", ()), "relu"), (getattr(aiq, "LinearLeakyReLU", ()), "leaky_relu"),
                   (getattr(aiq, "LinearTanh", ()), "tanh")):
        if isinstance(cls, type) and isinstance(m, cls):
            post = p
            break
    conv_t = tuple(getattr(aq, f"ConvTranspose{i}d") for i in (1, 2, 3))
    convs = tuple(getattr(aq, f"Conv{i}d") for i in (1, 2, 3))
    if isinstance(m, conv_t) or isinstance(m, convs):
        transposed = isinstance(m, conv_t)
        dtype, bias = _weight_bias(m)
        k = tuple(m.kernel_size)
        cin, cout, g = int(m.in_channels), int(m.out_channels), int(m.groups)
        shape = (cin, cout // g, *k) if transposed else (cout, cin // g, *k)
        cfg = {"stride": tuple(m.stride), "padding": tuple(m.padding), "dilation": tuple(m.dilation), "groups": g,
               "padding_mode": getattr(m, "padding_mode", "zeros"), "out_channels": cout,
               "output_padding": tuple(getattr(m, "output_padding", (0,) * len(k)))}
        return QuantizedTwin(m, "conv_transpose" if transposed else "conv", shape, bias, dtype, post, cfg)
    if isinstance(m, (aq.Linear, aqd.Linear)):
        dtype, bias = _weight_bias(m)
        if dtype == torch.float16 or getattr(getattr(m, "_packed_params", None), "dtype", None) == torch.float16:
            dtype = torch.float16
        cfg = {"negative_slope": getattr(m, "negative_slope", 0.01)}
        return QuantizedTwin(m, "linear", (int(m.out_features), int(m.in_features)), bias, dtype, post, cfg)
    if isinstance(m, (aq.Quantize, aq.DeQuantize)):
        return QuantizedTwin(m, "identity", None, False, torch.qint8, None, {})
    return None


def twin_memo(model: nn.Module) -> dict[int, nn.Module]:
    """``id(quantized module) -> meta twin`` for :func:`copy.deepcopy`'s memo (empty for a float model)."""
    mods = _ao()
    if mods is None:
        return {}
    memo: dict[int, nn.Module] = {}
    for m in model.modules():
        if id(m) in memo or not is_quantized_module(m):
            continue
        t = _twin(m, mods)
        if t is not None:
            memo[id(m)] = t
    return memo


def float_twins(work: nn.Module) -> None:
    """In the meta copy: quantized modules that subclass a float module (BatchNorm2d, Hardswish, ReLU6...) and
    ``QFunctional`` run their float computation. The copy is layerscope's own; the user's model is untouched."""
    mods = _ao()
    if mods is None:
        return
    aq = mods[0]
    for m in work.modules():
        if isinstance(m, QuantizedTwin) or not is_quantized_module(m):
            continue
        name = m._get_name() if hasattr(m, "_get_name") else type(m).__name__
        if isinstance(m, aq.QFunctional):
            base: type = aq.FloatFunctional
        else:
            base = next((c for c in type(m).__mro__ if c.__module__.startswith(_FLOAT_PREFIX)
                         and c is not nn.Module), None)  # type: ignore[assignment]
            if base is None:
                continue
        m.__class__ = type(name, (base,), {"_get_name": lambda self, _n=name: _n, "_layerscope_twin": True})
        if isinstance(m, aq.FloatFunctional) and not hasattr(m, "activation_post_process"):
            m.activation_post_process = nn.Identity()


def twin_params(work: nn.Module) -> list[nn.Parameter]:
    """The parameters of the twins (the packed weights as meta tensors): not in the user's ``parameters()``."""
    seen: set[int] = set()
    out = []
    for m in work.modules():
        if isinstance(m, QuantizedTwin):
            for p in m.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
    return out


# functional quantized ops (FX-converted models call them directly): their float equivalent on meta
_FUNCTIONAL = {"quantize_per_tensor", "quantize_per_channel", "quantize_per_tensor_dynamic", "dequantize"}


def functional(name: str, args: tuple, kwargs: dict) -> Any | None:
    """The float meta result of a quantize/dequantize call on a meta tensor, or None."""
    if name not in _FUNCTIONAL or not args:
        return None
    x = args[0]
    if isinstance(x, (list, tuple)):
        return type(x)(t for t in x)
    return x if isinstance(x, torch.Tensor) and x.device.type == "meta" else None
