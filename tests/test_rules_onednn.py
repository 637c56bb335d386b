"""oneDNN's CPU LSTM in the training step: the workspace size against the real kernel, the kernel choice
against PyTorch's, and the rerouted ``lstm`` against ``torch.lstm``'s numbers (real CPU tensors, tiny)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import layerscope
from layerscope.rules.onednn import lstm_workspace_bytes, onednn_lstm_applies, workspace_rule
from layerscope.tracing.training import _onednn_lstm

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")

BF16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())

# (steps, batch, input, hidden): I < H, I > H, odd sizes, 4H a multiple of 256 (the padded leading dim)
SHAPES = [(10, 4, 32, 64), (20, 4, 32, 64), (10, 4, 32, 128), (7, 3, 200, 64), (5, 2, 300, 50),
          (33, 17, 100, 100), (1, 1, 8, 8), (9, 5, 64, 256), (12, 6, 512, 96), (3, 2, 40, 24)]


def _real_workspace(t: int, b: int, i: int, h: int, dtype: torch.dtype) -> int:
    def g(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, dtype=dtype)

    out = torch.ops.aten.mkldnn_rnn_layer(g(t, b, i), g(4 * h, i), g(4 * h, h), g(4 * h), g(4 * h), g(b, h),
                                          g(b, h), False, [], 2, h, 1, True, False, False, True)
    return out[3].numel() * out[3].element_size()


@pytest.mark.parametrize("dtype", [torch.float32, pytest.param(torch.bfloat16, marks=pytest.mark.skipif(
    not BF16, reason="this CPU has no oneDNN bf16"))])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
def test_lstm_workspace_is_the_real_kernels(shape, dtype):
    size = dtype.itemsize
    assert lstm_workspace_bytes(*shape, size, size) == _real_workspace(*shape, dtype)


def test_the_workspace_rule_reads_the_call():
    # (T, B, I) input, cx (B, H), hidden_size at argument 10
    args = (torch.empty(10, 4, 32, device="meta"), None, None, None, None, None,
            torch.empty(4, 64, device="meta"), False, [], 2, 64)
    assert workspace_rule("mkldnn_rnn_layer")(args) == lstm_workspace_bytes(10, 4, 32, 64, 4, 4)
    assert workspace_rule("mkldnn_rnn_layer")(args) == 180_224  # the real kernel's, measured above
    assert workspace_rule("addmm") is None


class _Calls(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("case", ["fp32", "proj", "fp64", "bf16", "off"])
def test_onednn_is_taken_where_pytorch_takes_it(case):
    dtype = {"fp64": torch.float64, "bf16": torch.bfloat16}.get(case, torch.float32)
    lstm = nn.LSTM(6, 8, proj_size=4 if case == "proj" else 0).to(dtype)
    x = torch.randn(3, 2, 6, dtype=dtype)
    h = 4 if case == "proj" else 8
    hx = (torch.zeros(1, 2, h, dtype=dtype), torch.zeros(1, 2, 8, dtype=dtype))
    with torch.backends.mkldnn.flags(enabled=case != "off"):
        calls = _Calls()
        with calls:
            lstm(x, hx)
        taken = "mkldnn_rnn_layer" in calls.names
        assert onednn_lstm_applies(x, hx, torch) == taken
    if case == "fp32":
        assert taken  # the default on this machine: the case the training step models


@pytest.mark.parametrize("layers, bidirectional, bias, batch_first",
                         [(1, False, True, True), (2, True, True, False), (2, False, False, True),
                          (3, True, False, False)])
def test_the_rerouted_lstm_computes_what_torch_lstm_computes(layers, bidirectional, bias, batch_first):
    torch.manual_seed(0)
    lstm = nn.LSTM(5, 7, num_layers=layers, bias=bias, bidirectional=bidirectional, batch_first=batch_first)
    x = torch.randn(3, 4, 5)
    d = 2 if bidirectional else 1
    hx = (torch.randn(layers * d, 3 if batch_first else 4, 7), torch.randn(layers * d, 3 if batch_first else 4, 7))
    want = torch.lstm(x, hx, lstm._flat_weights, bias, layers, 0.0, True, bidirectional, batch_first)
    got = _onednn_lstm(x, hx, lstm._flat_weights, bias, layers, 0.0, True, bidirectional, batch_first)
    for w, g in zip(want, got):
        assert w.shape == g.shape
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


def test_the_training_step_keeps_one_workspace_per_layer_and_direction():
    lstm = nn.LSTM(16, 32, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.empty(4, 10, 16, device="meta")
    t = layerscope.training_cost(lstm, inputs=x, optimizer="sgd")
    def ops(cost):
        return [p.op.split(".")[0] for p in cost.timeline]

    assert ops(t).count("mkldnn_rnn_layer") == 2 * 2
    assert ops(t).count("mkldnn_rnn_layer_backward") == 2 * 2
    with torch.backends.mkldnn.flags(enabled=False):
        native = layerscope.training_cost(lstm, inputs=x, optimizer="sgd")
    assert "mkldnn_rnn_layer" not in ops(native)
    # the two kernels differ in what they keep for backward; the arithmetic is the same
    assert t.peak_bytes != native.peak_bytes
    assert (t.forward_macs, t.backward_macs) == (native.forward_macs, native.backward_macs)
