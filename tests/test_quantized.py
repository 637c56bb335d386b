"""Quantized models are analyzed through shape twins: the float twin's sizes, formulas, MACs and receptive
fields, with parameter bytes from the packed int8 weights.

Oracle: each torchvision quantization model built with ``quantize=True`` (eager post-training quantization,
calibrated by torchvision on a random image, fbgemm backend: everything offline) against the same architecture
with ``quantize=False``. The packed weights' sizes come from torch itself (``module.weight()``/``bias()``).
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torchvision
from torch import nn

import layerscope

warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")

QUANTIZED = torchvision.models.list_models(module=torchvision.models.quantization)
FAST = {"quantized_shufflenet_v2_x0_5"}  # the others take 5-70 s each to quantize on 2 cores: slow


def _packed_oracle(model: nn.Module) -> tuple[int, int]:
    """(int8 weight elements, float32 bias elements) of every packed module, read through torch's API."""
    import torch.ao.nn.quantized as aq

    w_n = b_n = 0
    for m in model.modules():
        if isinstance(m, (aq.Conv1d, aq.Conv2d, aq.Conv3d, aq.Linear)):
            w, b = m.weight(), m.bias()
            assert w.dtype == torch.qint8
            w_n += w.numel()
            b_n += b.numel() if b is not None else 0
    return w_n, b_n


def _conv_rows(report: layerscope.Report) -> dict[str, tuple]:
    return {r["name"]: (r["output_shape"], r["formula"]) for r in report.rows() if r["macs"]}


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n in FAST else [pytest.mark.slow]) for n in QUANTIZED])
def test_quantized_torchvision_model_matches_its_float_twin(name: str) -> None:
    size = 299 if "inception" in name else 224
    torch.manual_seed(0)
    q = torchvision.models.get_model(name, weights=None, quantize=True)
    with torch.device("meta"):
        f = torchvision.models.get_model(name, weights=None, quantize=False).eval()
    rq, rf = layerscope.analyze(q, input_size=size), layerscope.analyze(f, input_size=size)
    assert rq.ok and rq.status == "complete", [str(d) for d in rq.errors] + [str(rq.unknown_ops)]
    assert rf.ok and rf.status == "complete"  # the float twin is list_models()'s quantize=False model
    assert rq.total_macs == rf.total_macs
    assert [t.shape for t in rq.outputs] == [t.shape for t in rf.outputs]
    # every layer with MACs: same output size and formula (BatchNorm folded into the conv changes no size)
    assert _conv_rows(rq) == _conv_rows(rf)
    a, b = rq.receptive_field, rf.receptive_field
    assert (a.local_size, a.jump, a.local_start) == (b.local_size, b.jump, b.local_start)
    w_n, b_n = _packed_oracle(q)
    assert rq.params_by_dtype["qint8"] == w_n  # 1 byte per packed weight
    assert rq.params_by_dtype.get("float32", 0) == 4 * b_n
    assert rq.param_bytes == w_n + 4 * b_n
    assert rq.total_params == w_n + b_n


def _tiny_float() -> nn.Module:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.quant = torch.ao.quantization.QuantStub()
            self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.relu = nn.ReLU()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, 4)
            self.dequant = torch.ao.quantization.DeQuantStub()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.pool(self.relu(self.conv(self.quant(x))))
            return self.dequant(self.fc(torch.flatten(x, 1)))

    torch.manual_seed(0)
    return Net().eval()


def test_eager_quantized_model_keeps_its_float_numbers_and_is_untouched() -> None:
    float_model = _tiny_float()
    q = torch.ao.quantization.fuse_modules(_tiny_float(), [["conv", "relu"]])
    q.qconfig = torch.ao.quantization.get_default_qconfig("fbgemm")
    torch.ao.quantization.prepare(q, inplace=True)
    q(torch.rand(2, 3, 32, 32))
    torch.ao.quantization.convert(q, inplace=True)
    x = torch.rand(1, 3, 32, 32)
    before = q(x)
    report = layerscope.analyze(q, input_size=32)
    assert report.ok and report.status == "complete"
    # conv: 8 * 16*16 outputs * 3*3*3 taps; fc: 4 * 8
    assert report.total_macs == 8 * 16 * 16 * 27 + 4 * 8 == layerscope.analyze(float_model, input_size=32).total_macs
    (conv,) = [r for r in report.rows() if r["name"] == "conv"]
    assert conv["type"] == "QuantizedConvReLU2d" and conv["formula"] == "(32 + 2*1 - 1*(3-1) - 1)//2 + 1 = 16"
    assert report.params_by_dtype == {"qint8": 8 * 27 + 4 * 8, "float32": 4 * (8 + 4)}
    assert torch.equal(q(x), before)  # the user's quantized model still runs, unchanged


def test_fx_quantized_model_is_analyzed() -> None:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.fc = nn.Linear(8, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.relu(self.conv(x))
            return self.fc(y.mean((2, 3)))

    torch.manual_seed(0)
    net = Net().eval()
    x = torch.rand(1, 3, 16, 16)
    prepared = prepare_fx(net, get_default_qconfig_mapping("fbgemm"), example_inputs=(x,))
    prepared(x)
    q = convert_fx(prepared)
    report = layerscope.analyze(q, input_size=16)
    assert report.ok, [str(d) for d in report.errors]
    assert report.status == "complete", report.unknown_ops
    assert report.total_macs == layerscope.analyze(net, input_size=16).total_macs == 8 * 16 * 16 * 27 + 4 * 8
    assert [t.shape for t in report.outputs] == [(1, 4)]
