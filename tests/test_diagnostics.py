"""Shape bugs are diagnosed, not crashed on: codes, module paths, shapes, causes and fixes (issue 4).

Oracles: PyTorch itself (an eager forward on meta tensors of the unmodified model says whether an input
size works, and the shapes PyTorch reports), and arithmetic written out in comments.
"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import layerscope
from examples.buggy import (BUG_CASES, BadReshape, ConvChannelMismatch, LinearHeadExpects7x7, MatmulMismatch,
                            ResidualNoDownsample, SilentBroadcastResidual, TwoIndependentBugs, UNetOddInput)
from layerscope.errors import TraceError


def meta_input(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.empty(shape, device="meta")


def eager_ok(model: nn.Module, shape: tuple[int, ...]) -> bool:
    """The oracle: does PyTorch run this model at this input shape (on meta, no tracer involved)?"""
    with torch.device("meta"):
        m = type(model)()
    try:
        with torch.no_grad():
            m(meta_input(shape))
    except RuntimeError:
        return False
    return True


def analyze_case(name: str, **kw) -> layerscope.Report:
    case = BUG_CASES[name]
    return layerscope.analyze(case.model(), inputs=meta_input(case.bad_input), **kw)


def errors(report: layerscope.Report) -> list[layerscope.Diagnostic]:
    return [d for d in report.diagnostics if d.severity == "error"]


def test_every_raising_bug_case_gets_a_specific_code_not_a_crash():
    expected = {"ResidualNoDownsample": "LS101", "LinearHeadExpects7x7": "LS102", "UNetOddInput": "LS103",
                "ConvChannelMismatch": "LS104", "MatmulMismatch": "LS105", "BadReshape": "LS106",
                "TwoIndependentBugs": "LS104"}
    for name, case in BUG_CASES.items():
        if not case.raises:
            continue
        assert not eager_ok(case.model(), case.bad_input), f"{name} should fail in eager PyTorch"
        report = analyze_case(name)
        assert not report.ok
        assert errors(report)[0].code == expected[name], (name, [str(d) for d in report.diagnostics])
        assert errors(report)[0].source and "buggy.py:" in errors(report)[0].source


def test_residual_without_projection_names_the_layer_and_suggests_a_1x1_conv():
    report = analyze_case("ResidualNoDownsample")
    d = errors(report)[0]
    # main branch: (32 + 2*1 - 3)//2 + 1 = 16 at 128 channels; shortcut: the 1x64x32x32 input unchanged
    assert "(1, 128, 16, 16) from bn2" in d.message
    assert "(1, 64, 32, 32) from shortcut" in d.message
    assert "conv1 (stride 2: 32x32 -> 16x16)" in d.message
    assert "conv1 (64 -> 128 channels)" in d.message
    assert "nn.Conv2d(64, 128, kernel_size=1, stride=2, bias=False)" in d.hint
    assert "nn.BatchNorm2d(128)" in d.hint
    assert d.module is None  # the add is in the model's own forward
    assert re.search(r"buggy\.py:\d+$", d.source)
    # the line is the ``out += identity`` statement
    import inspect

    import examples.buggy as bug

    lines, first = inspect.getsourcelines(bug.ResidualNoDownsample.forward)
    line = int(d.source.rsplit(":", 1)[1])
    assert "out += identity" in lines[line - first]


def test_residual_in_a_nested_block_reports_the_block_path():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 64, 3, padding=1)
            self.layer2 = nn.Sequential(ResidualNoDownsample())

        def forward(self, x):
            return self.layer2(self.stem(x))

    report = layerscope.analyze(Net(), input_size=32)
    d = errors(report)[0]
    assert d.code == "LS101"
    assert d.module == "layer2.0"
    assert "layer2.0.conv1 (stride 2: 32x32 -> 16x16)" in d.message


def test_linear_after_flatten_shows_both_factorizations_and_a_fitting_input_size():
    report = analyze_case("LinearHeadExpects7x7")
    d = errors(report)[0]
    assert d.code == "LS102" and d.module == "classifier"
    # 128 / 2**5 = 4 -> 64*4*4 = 1024 features; the layer was built for 64*7*7 = 3136
    assert "1024 = 64*4*4" in d.message and "3136 = 64*7*7" in d.message
    assert "128 -> 64 (features.1) -> 32 (features.3) -> 16 (features.5) -> 8 (features.7) -> 4 (features.9)" \
        in d.message
    assert "nn.AdaptiveAvgPool2d((7, 7))" in d.hint
    lo, hi = d.data["valid_input_sizes"][0]
    # floor(s / 32) == 7 for s in 224..255; PyTorch agrees at the ends and just outside
    assert (lo, hi) == (224, 255)
    model = LinearHeadExpects7x7()
    assert eager_ok(model, (1, 3, lo, lo)) and eager_ok(model, (1, 3, hi, hi))
    assert not eager_ok(model, (1, 3, lo - 1, lo - 1)) and not eager_ok(model, (1, 3, hi + 1, hi + 1))


def test_unet_odd_input_names_the_flooring_layer_and_valid_sizes():
    report = analyze_case("UNetOddInput")
    d = errors(report)[0]
    assert d.code == "LS103"
    # 65 -> pool -> 32 -> pool -> 16 -> up -> 32 -> up -> 64, but the skip is 65
    assert "(1, 16, 64, 64) from up1" in d.message and "(1, 16, 65, 65) from enc1.1.1" in d.message
    assert "pool (MaxPool2d stride 2 floors 65 -> 32, dropping 1 px)" in d.message
    sizes = d.data["valid_input_sizes"]
    assert sizes == [64, 68]  # the nearest multiples of 2**2 below and above 65
    model = UNetOddInput()
    for s in sizes:
        assert eager_ok(model, (1, 3, s, s))
    for s in (65, 66, 67):
        assert not eager_ok(model, (1, 3, s, s))


def test_unet_66_reports_both_concats_in_one_run():
    report = layerscope.analyze(UNetOddInput(), input_size=(3, 66, 66))
    cats = [d for d in errors(report) if d.code == "LS103"]
    assert len(cats) == 2
    # 66 -> 33 -> pool floors to 16 -> up 32 vs skip 33; the second concat: 64 vs 66
    assert "(1, 32, 32, 32) from up2" in cats[0].message and "(1, 32, 33, 33) from enc2.1.1" in cats[0].message
    assert "pool (MaxPool2d stride 2 floors 33 -> 16" in cats[0].message
    assert cats[1].data.get("follows_error") is True
    # a size that satisfies every concat, not only the first (65 would fix the first and break the second)
    for s in cats[0].data["valid_input_sizes"]:
        assert eager_ok(UNetOddInput(), (1, 3, s, s))


def test_conv_channel_mismatch_names_the_layer_that_set_the_channels():
    report = analyze_case("ConvChannelMismatch")
    d = errors(report)[0]
    assert d.code == "LS104" and d.module == "conv2"
    assert "expects 32 input channels" in d.message and "gets 16" in d.message
    assert "(1, 16, 32, 32) from relu" in d.message
    assert "conv1 (Conv2d), which maps 3 -> 16 channels" in d.message
    assert "in_channels=16" in d.hint


def test_matmul_mismatch_suggests_the_transpose():
    report = analyze_case("MatmulMismatch")
    d = errors(report)[0]
    assert d.code == "LS105"
    assert "(1, 16, 32) from q @ (1, 16, 32) from k" in d.message
    assert "k.transpose(-2, -1)" in d.hint
    # recovery assumed q @ k^T: (1, 16, 32) @ (1, 32, 16) -> (1, 16, 16), so the rest traced without errors
    assert d.data["substitute"] == list(torch.empty(1, 16, 32, device="meta").matmul(
        torch.empty(1, 32, 16, device="meta")).shape)
    assert len(errors(report)) == 1


def test_bad_reshape_shows_the_element_counts():
    report = analyze_case("BadReshape")
    d = errors(report)[0]
    assert d.code == "LS106"
    # conv keeps 32x32, the 2x2 pool halves it: 16 channels * 16 * 16 = 4096 per sample; the view wants 1024
    assert "(1, 16, 16, 16) from pool" in d.message
    assert "4096 = 16*16*16" in d.message and "1024 = 16*8*8" in d.message
    assert "x.flatten(1)" in d.hint
    # continuing with the requested (1, 1024) lets fc (built for 1024) run: no follow-up error
    assert len(errors(report)) == 1


def test_two_independent_bugs_are_both_reported():
    report = analyze_case("TwoIndependentBugs")
    errs = errors(report)
    assert [d.code for d in errs] == ["LS104", "LS102"]
    assert errs[0].module == "branch_a.1" and errs[1].module == "branch_b.2"
    # branch_b: (32 + 2 - 3)//2 + 1 = 16 -> 16*16*16 = 4096 features into Linear(16*8*8 = 1024)
    assert "4096 = 16*16*16" in errs[1].message and "1024 = 16*8*8" in errs[1].message
    # the bugs are independent (branch_b does not descend from branch_a's substituted output)
    assert "follows_error" not in errs[1].data
    assert "follows_error" not in errs[0].data


def test_recovered_run_keeps_every_layer_and_is_not_ok():
    report = analyze_case("LinearHeadExpects7x7")
    assert report.ok is False
    names = list(report.table["name"])
    assert "features.9" in names and "classifier" in names  # before and at/after the failure
    row = report.table[report.table["name"] == "classifier"].iloc[0]
    assert row["output_shape"] == (1, 10)  # the substitute: input[:-1] + (out_features,)

    short = analyze_case("LinearHeadExpects7x7", recover=False)
    assert "classifier" not in list(short.table["name"]) and "features.9" in list(short.table["name"])
    assert not short.ok and errors(short)[0].code == "LS102"


def test_residual_recovery_continues_after_the_add():
    report = analyze_case("ResidualNoDownsample")
    names = list(report.table["name"])
    assert names[-1] == "relu_1" or names[-1].startswith("relu")  # the F.relu after the failed add
    assert report.layer_graph.outputs[0].shape == (1, 128, 16, 16)


def test_strict_raises_trace_error_with_the_diagnostic():
    case = BUG_CASES["ConvChannelMismatch"]
    with pytest.raises(TraceError) as info:
        layerscope.analyze(case.model(), inputs=meta_input(case.bad_input), strict=True)
    assert info.value.diagnostic.code == "LS104"
    assert "expects 32 input channels" in info.value.message


def test_data_dependent_control_flow_is_ls108():
    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)

        def forward(self, x):
            y = self.conv(x)
            if y.mean().item() > 0:
                return y
            return -y

    report = layerscope.analyze(Gate(), input_size=16)
    d = errors(report)[0]
    assert d.code == "LS108"
    assert "item()" in d.message and "meta" in d.message
    assert "shapes" in d.hint


def test_broadcast_failure_against_a_constant_is_ls107():
    from shared_models import AddConstant

    report = layerscope.analyze(AddConstant(), input_size=16)
    d = errors(report)[0]
    assert d.code == "LS107"
    assert "(1, 8, 16, 16) from conv" in d.message and "(5,) from a constant" in d.message
    assert "dim 3: 16 vs 5" in d.message


def test_silent_broadcast_is_a_warning_and_se_gating_is_not():
    report = layerscope.analyze(SilentBroadcastResidual(), inputs=meta_input((1, 32, 16, 16)))
    found = [d for d in report.diagnostics if d.code == "LS110"]
    assert len(found) == 1 and found[0].severity == "warning"
    assert "(1, 1, 16, 16) from branch.2" in found[0].message and "(1, 32, 16, 16)" in found[0].message
    assert report.ok  # a warning, not an error

    class SE(nn.Module):
        def __init__(self, c=32):
            super().__init__()
            self.fc1, self.fc2 = nn.Conv2d(c, 8, 1), nn.Conv2d(8, c, 1)

        def forward(self, x):
            s = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
            return x * s  # (N, C, 1, 1) gate: broadcasting intended

    class GlobalContext(nn.Module):  # GCNet-style: add a pooled (N, C, 1, 1) context
        def __init__(self, c=32):
            super().__init__()
            self.fc = nn.Conv2d(c, c, 1)

        def forward(self, x):
            return x + self.fc(F.adaptive_avg_pool2d(x, 1))

    for model in (SE(), GlobalContext()):
        rep = layerscope.analyze(model, inputs=meta_input((1, 32, 8, 8)))
        assert not [d for d in rep.diagnostics if d.code == "LS110"], type(model).__name__


@pytest.mark.parametrize("builder, size", [
    ("torchvision:resnet18", 224), ("examples.resnet:resnet50", 224), ("examples.efficientnet:efficientnet_b0", 224),
    ("examples.preact:preact_se_net", 32),
])
def test_clean_models_have_no_errors_and_no_shape_warnings(builder, size):
    from layerscope.loading import load_model

    report = layerscope.analyze(load_model(builder), input_size=size)
    assert report.ok, [str(d) for d in report.errors]
    assert not [d for d in report.diagnostics if d.code.startswith(("LS10", "LS11", "LS3"))], \
        [str(d) for d in report.diagnostics]


def test_recover_substitutes_match_pytorch_for_the_fixed_op():
    from layerscope.analysis.recover import recover_conv, recover_linear

    x = torch.empty(2, 16, 15, 15, device="meta")
    w_bad = torch.empty(64, 32, 3, 3, device="meta")
    got = recover_conv(F.conv2d, (x, w_bad, None, 2, 1, 1, 1), {}, transposed=False)
    want = F.conv2d(x, torch.empty(64, 16, 3, 3, device="meta"), None, 2, 1)  # what in_channels=16 would give
    assert got.shape == want.shape == (2, 64, 8, 8)  # (15 + 2 - 3)//2 + 1 = 8
    out = recover_linear((torch.empty(4, 7, 1024, device="meta"), torch.empty(10, 3136, device="meta")), {})
    assert out.shape == (4, 7, 10)


def test_explanations_never_hide_an_unknown_failure():
    class Weird(nn.Module):
        def forward(self, x):
            raise ValueError("custom check failed")

    report = layerscope.analyze(Weird(), input_size=8)
    assert not report.ok and errors(report)[0].code == "LS100"
    assert "custom check failed" in errors(report)[0].message


def test_two_bug_models_at_good_sizes_are_clean():
    for name, case in BUG_CASES.items():
        if case.good_input is None:
            continue
        report = layerscope.analyze(case.model(), inputs=meta_input(case.good_input))
        assert report.ok, (name, [str(d) for d in report.errors])


def test_channel_mismatch_message_uses_the_module_types_weight():
    report = layerscope.analyze(ConvChannelMismatch(), input_size=32)
    d = errors(report)[0]
    assert "weight (64, 32, 3, 3)" in d.message  # Conv2d(32, 64, 3).weight.shape
    assert tuple(ConvChannelMismatch().conv2.weight.shape) == (64, 32, 3, 3)


def test_matmul_and_reshape_models_do_not_fail_eagerly_once_fixed():
    # the hints are fixes: applying them makes PyTorch run the forward
    q = torch.empty(1, 16, 32, device="meta")
    assert torch.matmul(q, q.transpose(-2, -1)).shape == (1, 16, 16)
    x = torch.empty(1, 16, 16, 16, device="meta")
    assert x.flatten(1).shape == (1, 4096)
    assert MatmulMismatch and BadReshape and TwoIndependentBugs  # imported cases exist


def test_grouped_conv_channel_mismatch_counts_groups():
    class DW(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 16, 3)
            self.dw = nn.Conv2d(32, 32, 3, groups=32)  # depthwise, built for 32 channels

        def forward(self, x):
            return self.dw(self.a(x))

    for recover in (True, False):
        d = errors(layerscope.analyze(DW(), input_size=32, recover=recover))[0]
        assert d.code == "LS104" and d.module == "dw"
        assert "expects 32 input channels" in d.message and "gets 16" in d.message  # 1 per group * 32 groups


def test_parallel_branches_with_different_padding_are_not_called_a_unet_bug():
    class TwoBranch(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.b = nn.Conv2d(3, 8, 5, stride=2)

        def forward(self, x):
            return torch.cat([self.a(x), self.b(x)], 1)

    d = errors(layerscope.analyze(TwoBranch(), input_size=32))[0]
    assert d.code == "LS103"
    # a: (32 + 2 - 3)//2 + 1 = 16; b: (32 - 5)//2 + 1 = 14
    assert "32 -> 16 (a) vs 32 -> 14 (b)" in d.message
    assert "floor division" not in d.message and "valid_input_sizes" not in d.data


def test_token_tensors_that_do_not_add_are_a_broadcast_error_not_a_residual_story():
    class Mix(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(16, 32), nn.Linear(16, 16)

        def forward(self, x):
            return self.a(x) + self.b(x)

    d = errors(layerscope.analyze(Mix(), inputs=meta_input((2, 10, 16))))[0]
    assert d.code == "LS107"
    assert "(2, 10, 32) from a" in d.message and "(2, 10, 16) from b" in d.message and "dim 2: 32 vs 16" in d.message


def test_a_models_own_shape_assertion_is_reported_with_its_message():
    class Checked(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)

        def forward(self, x):
            assert x.shape[-1] == 224, f"expected 224 px, got {x.shape[-1]}"
            return self.conv(x)

    d = errors(layerscope.analyze(Checked(), input_size=160))[0]
    assert d.code == "LS100" and "expected 224 px, got 160" in d.message
    assert d.source and "test_diagnostics.py" in d.source
