"""Issue 13 (7): healthy decoders are not flagged; broken ones get the story that fits them.

smp (segmentation_models_pytorch) models built with encoder_weights=None (no download). Oracles: eager PyTorch
(does the model run, what size does it output) and arithmetic on the sizes.
"""

import pytest
import torch

import layerscope

smp = pytest.importorskip("segmentation_models_pytorch")


def _smp(cls, **kw):
    model = cls(encoder_name="resnet18", encoder_weights=None, **kw)
    model.requires_divisible_input_shape = False  # smp refuses sizes its decoder cannot restore; we explain them
    return model.eval()


@pytest.mark.parametrize("cls", [smp.Unet, smp.FPN], ids=["unet", "fpn"])
def test_healthy_unet_fpn_have_no_warnings(cls):
    report = layerscope.analyze(_smp(cls), input_size=256)
    assert report.status == "complete"
    merges = [d for d in report.diagnostics if d.code in ("LS401", "LS402")]
    assert merges and all(d.severity == "info" for d in merges)  # the geometric fact stays, as info
    assert "U-Net/FPN" in merges[0].message
    assert not [d for d in report.diagnostics if d.severity in ("warning", "error")]


def test_fpn_odd_size_add_tells_the_floor_division_story():
    model = _smp(smp.FPN)
    with pytest.raises(RuntimeError):  # eager PyTorch fails on the add: 64 vs 63
        with torch.no_grad():
            model(torch.zeros(1, 3, 250, 250))
    report = layerscope.analyze(model, input_size=250)
    d = report.errors[0]
    assert d.code == "LS101" and d.data["merge"] == "upsampled skip add"
    # 250 -> conv1 125 -> maxpool 63 -> layer2 stride 2 floors 63 -> 32; 32 x2 = 64 != 63
    assert "floor division" in d.message and "floors 63 -> 32" in d.message and "residual shortcut" not in d.message
    assert "input size of" in d.hint and "F.interpolate" in d.hint
    for size in d.data["valid_input_sizes"]:
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size))  # every suggested size runs in eager PyTorch


def test_pan_output_size_mismatch_is_flagged():
    model = _smp(smp.PAN)
    with torch.no_grad():
        eager = model(torch.zeros(1, 3, 250, 250)).shape
    assert tuple(eager) == (1, 1, 252, 252)  # runs, but not at the input's size
    report = layerscope.analyze(model, input_size=250)
    found = [d for d in report.diagnostics if d.code == "LS140"]
    assert len(found) == 1 and found[0].severity == "warning"
    assert "252x252 for a 250x250 input" in found[0].message and "encoder.maxpool (125 -> 63)" in found[0].message
    stride = found[0].data["stride"]
    assert all(s % stride == 0 for s in (192, 256)) and "F.interpolate" in found[0].hint
    assert not [d for d in layerscope.analyze(model, input_size=256).diagnostics if d.code == "LS140"]


def test_ls140_not_for_classifiers_or_strided_maps():
    import torchvision

    assert not [d for d in layerscope.analyze(torchvision.models.resnet18(), input_size=250).diagnostics
                if d.code == "LS140"]
    half = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)  # a 1/2-resolution map is not meant to be full size
    assert not [d for d in layerscope.analyze(half, input_size=250).diagnostics if d.code == "LS140"]
