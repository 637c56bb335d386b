"""Design lints (LS301-LS307), selection by code, and the check policy (budgets, fail-on)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import layerscope
from examples.buggy import BUG_CASES, CheckerboardDeconv, ConvBiasBeforeBN, DeepPlainStack
from layerscope.check import Budget, budget_diagnostics, exit_code, filter_codes, parse_codes, parse_quantity
from layerscope.diagnostics import CODES, make
from layerscope.errors import ConfigError


def codes(report: layerscope.Report, prefix: str = "LS3") -> list[str]:
    return [d.code for d in report.diagnostics if d.code.startswith(prefix)]


def find(report: layerscope.Report, code: str) -> list[layerscope.Diagnostic]:
    return [d for d in report.diagnostics if d.code == code]


def test_every_lint_code_is_in_the_catalogue_with_a_severity():
    for code in ("LS110", "LS301", "LS302", "LS303", "LS304", "LS305", "LS306", "LS307", "LS501", "LS502",
                 "LS503", "LS504", "LS505"):
        assert code in CODES and CODES[code][0] in ("error", "warning", "info")


def test_conv_bias_before_batchnorm():
    report = layerscope.analyze(ConvBiasBeforeBN(), input_size=32)
    (d,) = find(report, "LS301")
    assert d.module == "conv" and d.severity == "warning" and "bn" in d.message
    assert d.data["wasted_params"] == 32  # one bias per output channel of Conv2d(3, 32)
    assert "bias=False" in d.hint

    clean = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8))
    relu_between = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.BatchNorm2d(8))
    for m in (clean, relu_between):
        assert not find(layerscope.analyze(m, input_size=16), "LS301")


def test_checkerboard_transposed_conv():
    report = layerscope.analyze(CheckerboardDeconv(), inputs=torch.empty(1, 32, 16, 16, device="meta"))
    (d,) = find(report, "LS302")
    assert d.module == "up" and "kernel 3x3" in d.message and "stride 2x2" in d.message
    assert "kernel_size=4, stride=2, padding=1" in d.hint
    good = nn.ConvTranspose2d(32, 3, kernel_size=4, stride=2, padding=1)
    assert not find(layerscope.analyze(good, inputs=torch.empty(1, 32, 16, 16, device="meta")), "LS302")


def test_plain_stack_counts_weight_layers_without_skips():
    report = layerscope.analyze(DeepPlainStack(), input_size=32)
    (d,) = find(report, "LS303")
    assert d.data["depth"] == 12 + 1  # twelve 3x3 convs and the final Linear, no skip connection
    assert d.data["first"] == "body.0.0" and d.data["last"] == "fc"
    # 9 convs + 1 Linear = 10 weight layers: at the limit, not over it
    assert not find(layerscope.analyze(DeepPlainStack(depth=9), input_size=32), "LS303")


def test_torchvision_vgg16_gets_the_fc_head_lint_and_resnet_does_not():
    with torch.device("meta"):
        vgg = torchvision.models.vgg16()
        resnet = torchvision.models.resnet18()
        mobile = torchvision.models.mobilenet_v3_small()
    report = layerscope.analyze(vgg, input_size=224)
    (d,) = find(report, "LS304")
    head = sum(p.numel() for p in vgg.classifier.parameters())
    total = sum(p.numel() for p in vgg.parameters())
    assert d.data["head_params"] == head and d.data["total_params"] == total
    assert head / total > 0.5
    assert "global average pooling" in d.hint and d.module == "classifier.0"
    assert find(report, "LS303")  # 13 convs + 3 Linear in a row: VGG is the textbook plain stack
    r = layerscope.analyze(resnet, input_size=224)
    assert not codes(r), [str(x) for x in r.diagnostics]
    # a classifier after global pooling is not the VGG pattern, even when it holds most parameters
    m = layerscope.analyze(mobile, input_size=224)
    assert not find(m, "LS304")


def test_large_kernel_beyond_the_stem_only():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 7, stride=2, padding=3)  # a 7x7 stem is fine
            self.big = nn.Conv2d(16, 16, 7, padding=3)  # dense 7x7 later: flagged
            self.dw = nn.Conv2d(16, 16, 7, padding=3, groups=16)  # depthwise 7x7 (ConvNeXt): fine
            self.fact = nn.Conv2d(16, 16, (1, 7), padding=(0, 3))  # factorized 1x7 (Inception): fine

        def forward(self, x):
            return self.fact(self.dw(self.big(self.stem(x))))

    report = layerscope.analyze(Net(), input_size=64)
    found = find(report, "LS305")
    assert [d.module for d in found] == ["big"]
    assert found[0].severity == "info"


def test_pool_kernel_smaller_than_stride():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(kernel_size=2, stride=4))
    (d,) = find(layerscope.analyze(net, input_size=32), "LS306")
    assert d.module == "1"
    # a 2x2 window every 4x4 block reads 4 of 16 pixels: 1 - (2/4)**2 = 75% skipped
    assert "75%" in d.message
    assert not find(layerscope.analyze(nn.Sequential(nn.MaxPool2d(2, 2)), input_size=32), "LS306")


def test_batchnorm_on_batch_of_one_in_training_mode():
    with torch.device("meta"):
        model = torchvision.models.resnet18()
    train1 = layerscope.analyze(model, input_size=64, mode="train")
    (d,) = find(train1, "LS307")
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert len(d.data["layers"]) == n_bn
    assert not find(layerscope.analyze(model, input_size=64, mode="train", batch_size=8), "LS307")
    assert not find(layerscope.analyze(model, input_size=64), "LS307")  # eval mode uses running stats


def test_select_and_ignore_by_code_prefix():
    model = ConvBiasBeforeBN()
    assert find(layerscope.analyze(model, input_size=32), "LS301")
    assert not find(layerscope.analyze(model, input_size=32, ignore=["LS301"]), "LS301")
    assert not find(layerscope.analyze(model, input_size=32, ignore="LS3"), "LS301")
    assert not find(layerscope.analyze(model, input_size=32, select=["LS1"]), "LS301")
    assert find(layerscope.analyze(model, input_size=32, select="LS30"), "LS301")
    # a failed trace is reported whatever the selection
    case = BUG_CASES["ConvChannelMismatch"]
    r = layerscope.analyze(case.model(), input_size=32, select=["LS3"], ignore=["LS1"])
    assert [d.code for d in r.errors] == ["LS104"]


def test_parse_codes_and_quantities():
    assert parse_codes("ls3, LS110") == ("LS3", "LS110")
    assert parse_codes(["LS301", "ALL"]) == ("LS301", "ALL")
    with pytest.raises(ConfigError):
        parse_codes("E501")
    assert parse_quantity("25M") == 25_000_000
    assert parse_quantity("4.1G") == 4_100_000_000
    assert parse_quantity("512MiB") == 512 * 2**20
    assert parse_quantity(1000) == 1000
    with pytest.raises(ConfigError):
        parse_quantity("lots")


def test_budgets_become_ls5xx_diagnostics():
    net = nn.Conv2d(3, 8, 3)
    report = layerscope.analyze(net, input_size=32)
    params = 8 * 3 * 3 * 3 + 8  # weight + bias = 224
    macs = 30 * 30 * 8 * 3 * 3 * 3  # (32 - 3 + 1)^2 outputs * 8 channels * 27 = 194400
    assert budget_diagnostics(report, Budget(max_params=params, max_macs=macs)) == []
    over = budget_diagnostics(report, Budget(max_params=params - 1, max_macs=macs - 1))
    assert [d.code for d in over] == ["LS501", "LS502"]
    assert over[0].data["value"] == params and over[1].data["value"] == macs
    assert exit_code(over) == 1 and exit_code([]) == 0


def test_receptive_field_budget():
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3))
    report = layerscope.analyze(net, input_size=32)
    # two stride-1 3x3 convs: 1 + 2 + 2 = 5 px
    assert budget_diagnostics(report, Budget(min_receptive_field=5)) == []
    (d,) = budget_diagnostics(report, Budget(min_receptive_field=6))
    assert d.code == "LS504" and d.data["value"] == 5


def test_fail_on_levels():
    found = [make("LS301", "w"), make("LS305", "i")]
    assert exit_code(found, "error") == 0
    assert exit_code(found, "warning") == 1
    assert exit_code(found[1:], "warning") == 0 and exit_code(found[1:], "info") == 1
    assert [d.code for d in filter_codes(found, select=["LS30"], ignore=["LS305"])] == ["LS301"]


def test_assert_shapes_ok_helper():
    from layerscope.testing import assert_shapes_ok

    report = assert_shapes_ok(ConvBiasBeforeBN(), input_size=32)  # a warning does not fail by default
    assert report.ok
    with pytest.raises(AssertionError, match="LS301"):
        assert_shapes_ok(ConvBiasBeforeBN(), input_size=32, fail_on="warning")
    with pytest.raises(AssertionError) as info:
        assert_shapes_ok(BUG_CASES["ConvChannelMismatch"].model(), input_size=32)
    text = str(info.value)
    assert "LS104" in text and "conv2" in text and "(1, 16, 32, 32)" in text
    with pytest.raises(AssertionError, match="LS501"):
        assert_shapes_ok(nn.Conv2d(3, 8, 3), input_size=32, max_params=100)


def test_policy_and_explanation_modules_do_not_import_torch():
    import subprocess
    import sys

    probe = ("import layerscope.check, layerscope.config, layerscope.analysis.explain, layerscope.analysis.lints, "
             "layerscope.testing, layerscope.commands.check, sys\n"
             "print(' '.join(m for m in ('torch', 'pandas', 'matplotlib', 'networkx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == []
