"""Model SPEC loading: every failure is a coded ModelLoadError; nothing is downloaded."""

import os

import pytest
import torch

from layerscope.errors import ModelLoadError
from layerscope.loading import load_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_torchvision_segmentation_builds_without_backbone_weights():
    # fcn_resnet50 would download ImageNet backbone weights unless weights_backbone=None is passed
    model = load_model("torchvision:fcn_resnet50")
    assert isinstance(model, torch.nn.Module)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_file_and_module_specs():
    model = load_model(os.path.join(ROOT, "examples", "resnet.py") + ":resnet18")
    assert type(model).__name__ == "ResNet"
    assert type(load_model("examples.buggy:ConvBiasBeforeBN")).__name__ == "ConvBiasBeforeBN"


@pytest.mark.parametrize("spec, code", [
    ("resnet50", "LS921"),                       # no colon
    ("torchvision:", "LS921"),                   # empty name
    ("no_such_pkg.models:Net", "LS922"),         # import fails
    ("examples/missing_file.py:Net", "LS922"),   # no such file
    ("examples.resnet:nothing", "LS923"),        # no such attribute
    ("examples.resnet:ResNet", "LS924"),         # needs constructor arguments
    ("examples.resnet:__name__", "LS925"),       # not a model
    ("torchvision:resnet5", "LS926"),            # unknown name, with suggestions
])
def test_load_errors_are_coded(spec, code):
    with pytest.raises(ModelLoadError) as e:
        load_model(spec)
    assert e.value.code == code and e.value.hint
    if code == "LS926":
        assert "resnet50" in e.value.message  # did you mean
