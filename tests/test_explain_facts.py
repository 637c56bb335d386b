"""Shape bugs are classified from structured facts (the op's family, the operands' shapes, the call's own
arguments), not from PyTorch's message text: with every message replaced by garbage, each explainer still
gives the same code and the same numbers. A reworded message in a new torch cannot turn them into LS100."""

import pytest
import torch
import torch.nn as nn

import layerscope
import layerscope.tracing.tracer as tracer_module
from examples.buggy import BUG_CASES
from shared_models import AddConstant

GARBAGE = "xyzzy: nothing to see here"


@pytest.fixture
def garbled(monkeypatch):
    class GarbledFailure(tracer_module.Failure):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.message = GARBAGE

    monkeypatch.setattr(tracer_module, "Failure", GarbledFailure)


class DataGate(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        y = self.conv(x)
        return y if y.mean().item() > 0 else -y


def _first_error(model, shape):
    report = layerscope.analyze(model, inputs=torch.empty(shape, device="meta"))
    return next(d for d in report.diagnostics if d.severity == "error")


CASES = {  # explainer -> (model, input shape, code)
    "residual": (BUG_CASES["ResidualNoDownsample"].model, BUG_CASES["ResidualNoDownsample"].bad_input, "LS101"),
    "linear": (BUG_CASES["LinearHeadExpects7x7"].model, BUG_CASES["LinearHeadExpects7x7"].bad_input, "LS102"),
    "cat": (BUG_CASES["UNetOddInput"].model, BUG_CASES["UNetOddInput"].bad_input, "LS103"),
    "conv": (BUG_CASES["ConvChannelMismatch"].model, BUG_CASES["ConvChannelMismatch"].bad_input, "LS104"),
    "matmul": (BUG_CASES["MatmulMismatch"].model, BUG_CASES["MatmulMismatch"].bad_input, "LS105"),
    "reshape": (BUG_CASES["BadReshape"].model, BUG_CASES["BadReshape"].bad_input, "LS106"),
    "broadcast": (AddConstant, (1, 3, 16, 16), "LS107"),
    "data_dependent": (DataGate, (1, 3, 16, 16), "LS108"),
}


@pytest.mark.parametrize("explainer", sorted(CASES))
def test_explainer_does_not_fall_back_when_the_message_is_garbage(explainer, request):
    cls, shape, code = CASES[explainer]
    plain = _first_error(cls(), shape)
    assert plain.code == code
    request.getfixturevalue("garbled")
    again = _first_error(cls(), shape)
    assert again.data["torch_message"] == GARBAGE  # the garbling really reached the explainer
    assert again.code == code
    # the same numbers: the message text (which quotes PyTorch) differs only where it quotes the garbage
    keep = {k: v for k, v in plain.data.items() if k != "torch_message"}
    assert {k: v for k, v in again.data.items() if k != "torch_message"} == keep


class TinyBNNet(nn.Module):
    """Two stride-2 convs and a BatchNorm: at 4 px the BatchNorm sees a 1x1 map."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(16)

    def forward(self, x):
        return self.bn(self.conv2(self.conv1(x)))


@pytest.mark.parametrize("garble", [False, True])
def test_LS109_batch_norm_at_one_value_per_channel(garble, request):
    if garble:
        request.getfixturevalue("garbled")
    # 2 px: (2 + 2 - 3)//2 + 1 = 1 after conv1, 1 after conv2: batch 1 x 1x1 = one value per channel
    report = layerscope.analyze(TinyBNNet(), input_size=(3, 2, 2), mode="train")
    d = next(d for d in report.diagnostics if d.severity == "error")
    assert d.code == "LS109" and d.module == "bn"
    assert d.data["operands"][0] == [1, 16, 1, 1]
    # the smallest input whose map reaches 2: (3 + 2 - 3)//2 + 1 = 2, (2 + 2 - 3)//2 + 1 = 1; 5 -> 3 -> 2
    assert "an input of at least 5" in d.hint and "batch size 2" in d.hint
    assert layerscope.analyze(TinyBNNet(), input_size=(3, 5, 5), mode="train").ok
    assert layerscope.analyze(TinyBNNet(), input_size=(3, 2, 2), mode="train", batch_size=2).ok
    assert layerscope.analyze(TinyBNNet(), input_size=(3, 2, 2)).ok  # eval: the running statistics


def test_the_training_step_says_why_its_forward_failed():
    from layerscope.errors import LayerscopeError

    with pytest.raises(LayerscopeError) as info:
        layerscope.training_cost(TinyBNNet(), input_size=(3, 2, 2), optimizer="sgd")
    assert info.value.code == "LS980"
    assert "LS109" in str(info.value) and "batch size 2" in info.value.hint
