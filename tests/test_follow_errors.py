"""Several bugs in one run: independent ones stand alone, consequences of an earlier one say so."""


import torch
from torch import nn

import layerscope
from examples.buggy import TwoIndependentBugs


class ChainedBugs(nn.Module):
    """conv_b expects 8 channels but gets 16; its (substituted) 32-channel output then cannot be added to
    the 16-channel skip: the second error is a consequence of the first."""

    def __init__(self):
        super().__init__()
        self.conv_a = nn.Conv2d(3, 16, 3, padding=1)
        self.conv_b = nn.Conv2d(8, 32, 3, padding=1)

    def forward(self, x):
        skip = self.conv_a(x)
        return self.conv_b(skip) + skip


def test_independent_bugs_are_not_marked_as_following():
    report = layerscope.analyze(TwoIndependentBugs(), input_size=32)
    errors = report.errors
    assert [d.code for d in errors] == ["LS104", "LS102"]
    assert not any(d.data.get("follows_error") for d in errors)


def test_consequence_of_an_earlier_error_is_marked():
    report = layerscope.analyze(ChainedBugs(), input_size=16)
    errors = report.errors
    assert errors[0].code == "LS104" and errors[0].module == "conv_b"
    assert len(errors) == 2 and errors[1].data.get("follows_error") is True
    # PyTorch agrees the model is broken at conv_b
    try:
        ChainedBugs()(torch.zeros(1, 3, 16, 16))
    except RuntimeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("the model should fail in eager mode")
