"""Receptive fields: the analytic graph pass checked against an independent backprop oracle.

The oracle measures what the analysis predicts: the input pixels on which one output unit depends. It runs
a real CPU forward/backward on a copy of the model whose every path counts (weights 1/fan_in > 0, zero bias,
BatchNorm replaced by the identity, max-pools by average pools of the same geometry, all-ones input) and
returns the bounding box of the non-zero input gradient of one unit. With an input large enough that the
field fits inside it, that box is exactly the unit's receptive field.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

import layerscope
from layerscope.analysis.receptive_field import ReceptiveField, per_node

tv = pytest.importorskip("torchvision")


# ============================================================================================ oracle
_MAXPOOL_TO_AVG = {nn.MaxPool1d: nn.AvgPool1d, nn.MaxPool2d: nn.AvgPool2d, nn.MaxPool3d: nn.AvgPool3d}
_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
             nn.Linear)


def _every_path_counts(model: nn.Module) -> nn.Module:
    m = copy.deepcopy(model).eval()
    for mod in list(m.modules()):
        for cname, child in list(mod.named_children()):
            if type(child) in _MAXPOOL_TO_AVG:
                assert child.dilation in (1, (1,), (1, 1), (1, 1, 1)), "avg pools have no dilation"
                setattr(mod, cname, _MAXPOOL_TO_AVG[type(child)](child.kernel_size, child.stride, child.padding,
                                                                ceil_mode=child.ceil_mode))
            elif isinstance(child, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)):
                setattr(mod, cname, nn.Identity())
            elif isinstance(child, nn.AdaptiveMaxPool2d):
                setattr(mod, cname, nn.AdaptiveAvgPool2d(child.output_size))
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, _WEIGHTED):
                # positive and mean-preserving, so activations stay O(1) even 50 layers deep
                mod.weight.fill_(1.0 / mod.weight[0].numel())
                if mod.bias is not None:
                    mod.bias.zero_()
    return m


def oracle(model: nn.Module, shape: tuple[int, ...], index: tuple[int, ...] | None = None,
           n_spatial: int | None = None) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    """(unit index, per-axis half-open box of input pixels with a non-zero gradient) for one output unit."""
    m = _every_path_counts(model)
    x = torch.ones(shape, requires_grad=True)
    y = m(x)
    n = n_spatial if n_spatial is not None else len(shape) - 2
    if index is None:
        index = tuple(s // 2 for s in y.shape[-n:])
    y[(0, 0) + tuple(index)].backward()
    if x.grad is None or not x.grad.any():  # the unit reads no input pixel (a transposed conv's gap)
        return tuple(index), tuple((0, 0) for _ in range(n))
    g = x.grad.detach().abs().sum(dim=(0, 1))
    boxes = []
    for a in range(n):
        others = tuple(d for d in range(n) if d != a)
        profile = g.sum(dim=others) if others else g
        nz = profile.nonzero().flatten()
        boxes.append((int(nz.min()), int(nz.max()) + 1))
    return tuple(index), tuple(boxes)


def check_against_oracle(model: nn.Module, shape: tuple[int, ...], *, exact_size: bool = True) -> ReceptiveField:
    rf = layerscope.analyze(model, input_size=shape).receptive_field
    index, box = oracle(model, shape)
    region = rf.region(*index)
    for (lo, hi), size in zip(region, shape[2:]):
        assert 0 <= lo and hi <= size, f"test setup: the field {region} does not fit the input {shape}"
    assert region == box, f"analytic {region} vs backprop {box} at unit {index}"
    sizes = tuple(hi - lo for lo, hi in box)
    if exact_size:
        assert rf.size == sizes
    else:  # upsampling: the field differs between units; size is the largest
        assert all(s >= o for s, o in zip(rf.size, sizes))
    return rf


def trunk(model: nn.Module) -> nn.Module:
    """A torchvision ResNet without its global pool and classifier."""
    return nn.Sequential(*list(model.children())[:-2])


# ============================================================================================ zoo
def test_vgg16_features_212_jump_32():
    # VGG-16: 13 3x3 convs and 4 2x2/2 pools before the last pool;
    # rf = 1 + 2*(2*1 + 2*2 + 3*4 + 3*8 + 3*16) + (2-1)*(1+2+4+8+16) = 1 + 180 + 31 = 212, jump 2**5 = 32
    rf = check_against_oracle(tv.models.vgg16().features, (1, 3, 256, 256))
    assert rf.size == (212, 212) and rf.jump == (32, 32)
    assert rf.start == (15.5, 15.5)  # each 2x2 pool without padding moves the centre by jump/2: 0.5+1+2+4+8


def test_resnet18_trunk():
    rf = check_against_oracle(trunk(tv.models.resnet18()), (1, 3, 480, 480))
    assert rf.jump == (32, 32)


def test_resnet50_trunk_427_jump_32():
    # the shortcut's 1x1 stride-2 convs must not be chained after the main branch (that gives 1963 / 256)
    rf = check_against_oracle(trunk(tv.models.resnet50()), (1, 3, 448, 448))
    assert rf.size == (427, 427) and rf.jump == (32, 32) and rf.start == (0, 0)


class Dilated(nn.Module):
    """Dilated convs, a ceil-mode pool whose last window hangs over the edge, and a (3, 1) kernel."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(2, 4, 3, padding=2, dilation=2)
        self.pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.c2 = nn.Conv2d(4, 4, (3, 1), padding=(1, 0))
        self.c3 = nn.Conv2d(4, 4, 3, dilation=(3, 1), padding=(3, 1), stride=(1, 2))
        self.c4 = nn.Conv2d(4, 4, (5, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c4(F.relu(self.c3(F.relu(self.c2(self.pool(F.relu(self.c1(x))))))))


def test_dilated_ceil_mode_per_axis():
    rf = check_against_oracle(Dilated(), (1, 2, 61, 61))
    # H: 1 +4 (k_eff 5) +2 (pool 3, jump 1) =7, jump 2; +2*2 (3x1) =11; +6*2 (k_eff 7) =23; +4*2 (k 5) =31
    # W: 1 +4 +2 =7, jump 2; +0 (k 1) =7; +2*2 =11, jump 4; +1*4 (k 2) =15
    assert rf.size == (31, 15) and rf.jump == (2, 4)


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int = 4) -> None:
        super().__init__()
        hidden = cin * expand
        self.expand = nn.Sequential(nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.SiLU())
        self.dw = nn.Sequential(nn.Conv2d(hidden, hidden, k, stride, k // 2, groups=hidden, bias=False),
                                nn.BatchNorm2d(hidden), nn.SiLU())
        self.project = nn.Sequential(nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.dw(self.expand(x)))
        return out + x if self.residual else out


def mbconv_net() -> nn.Module:
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.SiLU()),
        MBConv(8, 8, 3, 1), MBConv(8, 12, 3, 2), MBConv(12, 12, 3, 1), MBConv(12, 16, 5, 2), MBConv(16, 16, 5, 1),
        MBConv(16, 24, 3, 2), MBConv(24, 24, 3, 1),
    )


def test_mbconv_without_se():
    rf = check_against_oracle(mbconv_net(), (1, 3, 256, 256))
    # stem 3 (jump 2); +2*2 =7 (jump 2); +2*2 =11 (jump 4); +2*4 =19; +4*4 =35 (jump 8); +4*8 =67;
    # +2*8 =83 (jump 16); +2*16 =115
    assert rf.size == (115, 115) and rf.jump == (16, 16)
    assert not rf.is_global


class UNet(nn.Module):
    """Two downsamplings; back up with a 2x2/2 transposed conv, a 3x3/2 one and nearest upsampling."""

    def __init__(self, c: int = 4) -> None:
        super().__init__()

        def block(i: int, o: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.ReLU(), nn.Conv2d(o, o, 3, padding=1), nn.ReLU())

        self.e1, self.e2, self.e3 = block(1, c), block(c, 2 * c), block(2 * c, 4 * c)
        self.pool = nn.MaxPool2d(2)
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.d2 = block(4 * c, 2 * c)
        self.up1 = nn.ConvTranspose2d(2 * c, c, 3, stride=2, padding=1, output_padding=1)
        self.d1 = block(2 * c, c)
        self.up0 = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = self.e1(x)
        s2 = self.e2(self.pool(s1))
        b = self.e3(self.pool(s2))
        y = self.d2(torch.cat([self.up2(b), s2], dim=1))
        y = self.d1(torch.cat([self.up1(y), s1], dim=1))
        return self.head(self.up0(y))


@pytest.mark.parametrize("index", [None, (61, 62), (62, 63), (63, 60)])
def test_unet_transposed_convs_against_oracle(index):
    net, shape = UNet(), (1, 1, 128, 128)
    rf = layerscope.analyze(net, input_size=shape).receptive_field
    unit, box = oracle(net, shape, index=index)
    assert all(lo > 0 and hi < 128 for lo, hi in box)  # the field fits: the box is not clipped
    assert rf.region(*unit) == box
    assert all(s >= hi - lo for s, (lo, hi) in zip(rf.size, box))
    assert rf.jump == (0.5, 0.5)  # nearest x2 after the decoder got back to jump 1


def test_unet_size_is_the_largest_unit_field():
    net, shape = UNet(), (1, 1, 96, 96)
    rf = layerscope.analyze(net, input_size=shape).receptive_field
    widest = 0
    for i in range(90, 98):  # a few periods of the x8 up/down sampling, away from the borders
        _, box = oracle(net, shape, index=(i, 96))
        widest = max(widest, box[0][1] - box[0][0])
    assert rf.size[0] == widest


# ============================================================================================ random stacks
@st.composite
def stacks(draw):
    layers = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["conv", "conv", "max", "avg"]))
        k = draw(st.integers(1, 5) if kind == "conv" else st.integers(2, 4))
        s = draw(st.integers(1, 3))
        p = draw(st.integers(0, k // 2))
        if kind == "conv":
            d = draw(st.integers(1, 3))
            layers.append(("conv", k, s, p, d))
        else:
            layers.append((kind, k, s, p, draw(st.booleans())))
    return layers


def build(layers) -> nn.Module:
    mods: list[nn.Module] = []
    for kind, k, s, p, extra in layers:
        if kind == "conv":
            mods += [nn.Conv1d(2, 2, k, s, p, dilation=extra), nn.ReLU()]
        elif kind == "max":
            mods.append(nn.MaxPool1d(k, s, p, ceil_mode=extra))
        else:
            mods.append(nn.AvgPool1d(k, s, p, ceil_mode=extra))
    return nn.Sequential(*mods)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_random_stacks_match_backprop(layers):
    net = build(layers)
    size = 16
    for _ in range(8):  # grow the input until the centre unit's field fits inside it
        report = layerscope.analyze(net, inputs=torch.empty(1, 2, size, device="meta"))
        if not report.ok:  # too small for this stack: no output unit at all
            size *= 2
            continue
        rf = report.receptive_field
        (lo, hi), = rf.region(report.outputs[0].shape[-1] // 2)
        if lo >= 0 and hi <= size:
            break
        size *= 2
    else:
        assume(False)  # the field never fit: draw another stack
    unit, box = oracle(net, (1, 2, size))
    assert rf.region(*unit) == box
    assert rf.size == (box[0][1] - box[0][0],)


# ============================================================================================ global context
def test_classifier_is_global_from_its_pool():
    report = layerscope.analyze(tv.models.resnet18(), input_size=224)
    rf = report.receptive_field
    assert rf.is_global and rf.global_from == "avgpool"
    assert rf.local_size == (435, 435)  # the trunk's field, as measured by the oracle test above
    assert rf.size == (224, 224) and rf.region(0) == ((0, 224), (0, 224))


def test_vgg_classifier_is_global_from_the_linear_over_positions():
    # the 7x7 adaptive pool is a plain 1x1 window at 224, so the first Linear over the flattened map mixes it
    rf = layerscope.analyze(tv.models.vgg16(), input_size=224).receptive_field
    assert rf.is_global and rf.global_from == "classifier.0" and rf.local_size == (212, 212)


class SENet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(2, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 2, 1), nn.ReLU(), nn.Conv2d(2, 8, 1),
                                nn.Sigmoid())
        self.c3 = nn.Conv2d(8, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.c2(F.relu(self.c1(x)))
        y = y * self.se(y)
        return self.c3(y)


def test_se_gate_is_global_and_keeps_the_local_field():
    net, shape = SENet(), (1, 2, 32, 32)
    rf = layerscope.analyze(net, input_size=shape).receptive_field
    assert rf.is_global and rf.global_from == "se.0"
    # the conv path without the gate: 3 +2*1 (stride 2) =5, +2*2 =9
    assert rf.local_size == (9, 9)
    _, box = oracle(net, shape)
    assert box == ((0, 32), (0, 32)) == rf.region(3, 3)  # the gate really does see everything
    # without the gate, the oracle sees the local field
    plain = copy.deepcopy(net)
    plain.se = nn.Sequential(nn.Conv2d(8, 8, 1), nn.Sigmoid())  # pointwise gate
    unit, box = oracle(plain, shape)
    assert rf.local_region(*unit) == box


def test_efficientnet_and_preact_se_global_from_first_gate():
    import examples.efficientnet as eff
    import examples.preact as pre

    rf = layerscope.analyze(eff.efficientnet_b0(), input_size=224).receptive_field
    assert rf.is_global and rf.global_from == "features.1.0.se.pool"
    rf = layerscope.analyze(pre.preact_se_net(), input_size=32).receptive_field
    assert rf.is_global and rf.global_from.endswith(".se.pool")


def test_attention_over_positions_is_global_and_keeps_the_patch():
    rf = layerscope.analyze(tv.models.vit_b_16(), input_size=224).receptive_field
    assert rf.is_global and rf.global_from.endswith("self_attention")
    assert rf.local_size == (16, 16) and rf.jump == (16, 16)  # the 16x16/16 patch embedding


# ============================================================================================ merges
class Merge(nn.Module):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.a = nn.Conv2d(1, 2, 3, padding=1, stride=2 if mode == "jump" else 1)
        self.b = nn.Conv2d(1, 2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "jump":
            return self.a(x) + x[:, :, :8, :8].expand(-1, 2, -1, -1)
        return self.a(x) + self.b(F.pad(x, (0, 1, 0, 1)))


def test_misaligned_centres_ls402():
    report = layerscope.analyze(Merge("centre"), input_size=(1, 1, 16, 16))
    found = [d for d in report.diagnostics if d.code == "LS402"]
    # one finding naming both axes (the same offset along H and W)
    assert len(found) == 1 and found[0].data["axis"] == ["H", "W"] and "along H and W" in found[0].message
    assert found[0].module == "add" and set(found[0].data["branches"]) == {"a", "b"}
    # centres 0 (3x3, pad 1) and 0.5 (2x2, pad 0): the union spans pixels -1..1 of unit 0
    assert report.receptive_field.size == (3, 3) and report.receptive_field.start == (0, 0)


def test_jump_mismatch_ls401():
    report = layerscope.analyze(Merge("jump"), input_size=(1, 1, 16, 16))
    found = [d for d in report.diagnostics if d.code == "LS401"]
    assert found and found[0].module == "add" and "a" in found[0].data["branches"]


def test_no_merge_findings_at_a_merge_that_failed_on_shapes():
    from examples.buggy import ResidualNoDownsample

    report = layerscope.analyze(ResidualNoDownsample(), input_size=(1, 64, 32, 32))
    assert [d.code for d in report.errors] == ["LS101"]
    # the branches do step at different rates (jump 2 vs 1), but the shape error already says why
    assert not [d for d in report.diagnostics if d.code in ("LS401", "LS402")]


def test_resnet_has_no_merge_findings():
    report = layerscope.analyze(tv.models.resnet50(), input_size=224)
    assert not [d for d in report.diagnostics if d.code in ("LS401", "LS402")]
    # 7 (conv1) + 2*2 (maxpool) = 11 at jump 4; layer1: 3 * 2*4 -> 35; layer2: +2*4 (stride-2 conv) then
    # 3 * 2*8 -> 91; layer3: +2*8 -> 107 at jump 16, then +32 per block: 139, 171, 203, 235 > 224 at block 4
    assert [d.module for d in report.diagnostics if d.code == "LS403"] == ["layer3.4.conv2"]


# ============================================================================================ API
def test_table_columns_and_named_modules():
    report = layerscope.analyze(tv.models.resnet18(), input_size=224)
    t = report.table.set_index("name")
    assert t.loc["conv1", "rf"] == (7, 7) and t.loc["conv1", "jump"] == (2, 2) and t.loc["conv1", "start"] == (0, 0)
    # maxpool 3x3/2: 7 + 2*2 = 11, jump 4
    assert t.loc["maxpool", "rf"] == (11, 11) and t.loc["maxpool", "jump"] == (4, 4)
    layer1 = report.receptive_field_of("layer1")  # a container: its output is the last block's relu
    assert layer1.size == (43, 43) and layer1.jump == (4, 4)  # 11 + 4 convs * 2*4
    assert report.receptive_field_of("layer1.0.conv1").size == (19, 19)
    with pytest.raises(layerscope.ConfigError):
        report.receptive_field_of("layer9")


def test_shortcut_function_and_1d_3d():
    net = nn.Sequential(nn.Conv1d(1, 2, 5, stride=2), nn.Conv1d(2, 2, 3))
    rf = layerscope.receptive_field(net, input_size=(1, 1, 50), full_shape=True)  # (N, C, L)
    assert rf.size == (9,) and rf.jump == (2,) and rf.start == (4,)  # 5 + 2*2; centre 2, +1*2
    net3 = nn.Sequential(nn.Conv3d(1, 2, (3, 5, 1)), nn.MaxPool3d(2))
    rf3 = layerscope.receptive_field(net3, input_size=(1, 1, 8, 8, 8))
    assert rf3.size == (4, 6, 2) and rf3.jump == (2, 2, 2)
    assert layerscope.receptive_field(net, input_size=(1, 1, 50), full_shape=True, module="0").size == (5,)


def test_flatten_and_permute_keep_axes():
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Conv2d(3, 8, 4, stride=4)
            self.mix = nn.Linear(8, 8)
            self.conv = nn.Conv2d(8, 8, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.embed(x).permute(0, 2, 3, 1)  # channels last: a Linear over channels is pointwise
            y = self.mix(y).permute(0, 3, 1, 2)
            return self.conv(y)[:, :, 1:, 2:]

    report = layerscope.analyze(Tokens(), input_size=(1, 3, 32, 24))
    rf = report.receptive_field
    assert not rf.is_global and rf.size == (12, 12) and rf.jump == (4, 4)
    # the slice drops 1 row and 2 columns of units: centre 1.5 + 1*4 - ... conv 3 pad 1 keeps 1.5
    assert rf.start == (1.5 + 4, 1.5 + 8)
    index, box = oracle(Tokens(), (1, 3, 32, 24), index=(2, 2))
    assert rf.region(2, 2) == box


def test_rendering_runs_no_analysis(monkeypatch):
    # analyze() stores the rf/jump/start columns and the output's field; rows and markdown only read them
    import layerscope.analysis.receptive_field as rf_module

    report = layerscope.analyze(tv.models.resnet18(), input_size=224)
    expected = per_node(report.layer_graph)

    def boom(*args, **kwargs):
        raise AssertionError("the receptive-field analysis ran again")

    monkeypatch.setattr(rf_module, "analyze_fields", boom)
    rows = {n.id: (r["rf"], r["jump"], r["start"]) for n, r in zip(report.nodes, report.rows()) if r["rf"] is not None}
    assert rows == expected and len(rows) == len(report.nodes)
    assert "Where the jump (effective stride) changes" in report.to_markdown()
    assert report.receptive_field.local_size == (435, 435)


class Upsampled(nn.Module):
    def __init__(self, mode: str, align: bool | None, factor: int) -> None:
        super().__init__()
        self.mode, self.align, self.factor = mode, align, factor
        self.c1 = nn.Conv2d(1, 2, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(2, 2, 3, padding=1)
        self.c3 = nn.Conv2d(2, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kw = {} if self.align is None else {"align_corners": self.align}
        y = F.interpolate(self.c2(self.c1(x)), scale_factor=self.factor, mode=self.mode, **kw)
        return self.c3(y)


@pytest.mark.parametrize("mode,align,factor", [("nearest", None, 2), ("nearest-exact", None, 2),
                                               ("bilinear", False, 2), ("bilinear", True, 2),
                                               ("bicubic", False, 2), ("nearest", None, 3), ("bilinear", False, 3)])
def test_interpolate_modes_unit_by_unit(mode, align, factor):
    net, shape = Upsampled(mode, align, factor), (1, 1, 60, 60)
    rf = layerscope.analyze(net, input_size=shape).receptive_field
    widest = 0
    for i in range(26, 32):  # consecutive units: every phase of the x2 / x3 resampling
        unit, box = oracle(net, shape, index=(i, i))
        assert rf.region(*unit) == box
        widest = max(widest, box[0][1] - box[0][0])
    assert rf.size[0] == widest
    assert rf.jump[0] == pytest.approx(2 / factor if not align else 2 * 29 / (30 * factor - 1))


def test_json_round_trip_keeps_the_field():
    report = layerscope.analyze(UNet(), input_size=(1, 1, 64, 64))
    again = layerscope.Report.from_json(report.to_json())
    a, b = report.receptive_field, again.receptive_field
    assert (a.size, a.jump, a.start, a.region(30, 31)) == (b.size, b.jump, b.start, b.region(30, 31))
    assert report.rows()[5]["rf"] == again.rows()[5]["rf"]


# ============================================================================================ rendering
def test_plots_draw_the_data():
    import matplotlib

    matplotlib.use("Agg")
    from layerscope.render.rf_plots import plot_receptive_field, plot_rf_boxes

    report = layerscope.analyze(tv.models.resnet18(), input_size=224)
    ax = plot_receptive_field(report)
    rf_line = ax.lines[0]
    assert max(rf_line.get_ydata()) == 435 and ax.get_yscale() == "log"
    assert any(list(line.get_ydata()) == [224, 224] for line in ax.lines)  # the input size line
    boxes = plot_rf_boxes(report)  # a classifier: boxes of the last local tensor, the trunk's output
    rects = [p for p in boxes.patches if p.get_width() == 435]
    assert len(rects) == 3  # first, centre and last unit
    dil = layerscope.analyze(Dilated(), input_size=(1, 2, 61, 61))
    ax = plot_rf_boxes(dil, units=[(0, 0)])
    (r,) = [p for p in ax.patches if p.get_height() == 31]
    assert r.get_width() == 15 and (r.get_x(), r.get_y()) == (3 - 7, 5 - 15)  # centre (5, 3), half-widths
    one_d = layerscope.analyze(nn.Conv1d(1, 1, 5), input_size=(1, 1, 20), full_shape=True)
    assert plot_rf_boxes(one_d).patches and plot_receptive_field(one_d).lines


def test_markdown_section_and_summary_line():
    from layerscope.render.rf_plots import receptive_field_markdown

    report = layerscope.analyze(tv.models.resnet50(), input_size=224)
    text = receptive_field_markdown(report)
    assert "| local field (px) | 427 | 427 |" in text
    assert "from `avgpool` on" in text and "`layer3.4.conv2`" in text
    md = report.to_markdown()
    assert "global from `avgpool` on; local field 427 px (jump 32), larger than the 224 px input" in md
    plain = receptive_field_markdown(layerscope.analyze(Dilated(), input_size=(1, 2, 61, 61)))
    assert "31x15 px" in plain and "stays within the input" in plain


# ============================================================================================ layouts and context
class Hybrid(nn.Module):
    """Conv stem -> tokens (flatten + transpose) -> Linear over channels -> back to a map -> conv head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.mix = nn.Linear(4, 4)
        self.head = nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stem(x)
        n, c, h, w = y.shape
        t = self.mix(y.flatten(2).transpose(1, 2))
        return self.head(t.transpose(1, 2).reshape(n, c, h, w))


def test_tokens_back_to_a_map_keep_their_axes():
    rf = check_against_oracle(Hybrid(), (1, 1, 40, 40))
    assert rf.size == (7, 7) and not rf.is_global  # 3 + 2*2: the Linear over channels is pointwise


def test_window_attention_is_not_global_but_unknown():
    report = layerscope.analyze(tv.models.swin_t(), input_size=224)
    rf = report.receptive_field
    # only the last stage's 7x7 window covers its whole 7x7 map: that is where attention becomes global
    assert rf.is_global and rf.global_from.startswith("features.7.0.attn")
    assert rf.local_size == (None, None)  # windows and shifts are not followed: unknown, not guessed
    codes = [d.code for d in report.diagnostics]
    assert "LS404" in codes and "LS402" not in codes  # patch merging's strided slices are not a misalignment


def test_aspp_image_pooling_is_context_not_a_jump_mismatch():
    seg = tv.models.segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, aux_loss=False)
    report = layerscope.analyze(seg, input_size=(3, 128, 128))
    rf = report.receptive_field
    assert rf.is_global and rf.global_from == "classifier.0.convs.4.0"  # the ASPP image-pooling branch
    assert not [d for d in report.diagnostics if d.code in ("LS401", "LS402")]
    assert rf.jump == (1, 1)  # bilinear x8 back to the input grid


def test_token_sequences_are_measured_in_tokens_and_conv1d_inputs_in_frames():
    # (N, L, E) tokens into a transformer: the last dim is features, the positions are dim 1 (issue 13: tokens
    # are not pixels); attention makes every output token depend on all 16
    with torch.device("meta"):
        enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), 2)
    rf = layerscope.analyze(enc, inputs=torch.empty(1, 16, 32, device="meta")).receptive_field
    assert (rf.units, rf.is_global, rf.causal, rf.size, rf.local_size) == ("tokens", True, False, (16,), (1,))
    # (N, C, L) into a conv (after a pointwise norm): one spatial axis, in frames (samples for one channel)
    net = nn.Sequential(nn.BatchNorm1d(2), nn.Conv1d(2, 2, 5, stride=2), nn.Conv1d(2, 2, 3))
    rf = layerscope.receptive_field(net, input_size=(1, 2, 50), full_shape=True)
    assert (rf.size, rf.units) == ((9,), "frames")  # 5 + (3-1)*2
    mono = nn.Sequential(nn.Conv1d(1, 2, 5, stride=2), nn.Conv1d(2, 2, 3))
    assert layerscope.receptive_field(mono, input_size=(1, 1, 50), full_shape=True).units == "samples"


@st.composite
def up_down_stacks(draw):
    layers = []
    for _ in range(draw(st.integers(2, 6))):
        kind = draw(st.sampled_from(["conv", "tconv", "up", "max"]))
        if kind == "tconv":
            k, s = draw(st.integers(1, 4)), draw(st.integers(1, 3))
            p = draw(st.integers(0, (k - 1) // 2))
            layers.append(("tconv", k, s, p, draw(st.integers(0, max(0, s - 1)))))
        elif kind == "up":
            layers.append(("up", draw(st.integers(2, 3)), 0, 0, draw(st.sampled_from(["nearest", "linear"]))))
        elif kind == "conv":
            k = draw(st.integers(1, 4))
            layers.append(("conv", k, draw(st.integers(1, 3)), draw(st.integers(0, k // 2)), 1))
        else:
            k = draw(st.integers(2, 3))
            layers.append(("max", k, draw(st.integers(1, 2)), draw(st.integers(0, k // 2)), False))
    return layers


def build_up_down(layers) -> nn.Module:
    mods: list[nn.Module] = []
    for kind, k, s, p, extra in layers:
        if kind == "tconv":
            mods.append(nn.ConvTranspose1d(2, 2, k, s, p, output_padding=extra))
        elif kind == "up":
            mods.append(nn.Upsample(scale_factor=k, mode=extra))
        elif kind == "conv":
            mods.append(nn.Conv1d(2, 2, k, s, p))
        else:
            mods.append(nn.MaxPool1d(k, s, p))
    return nn.Sequential(*mods)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(up_down_stacks())
def test_random_transposed_and_upsampling_stacks_unit_by_unit(layers):
    net = build_up_down(layers)
    for size in (24, 48, 96, 192):
        report = layerscope.analyze(net, inputs=torch.empty(1, 2, size, device="meta"))
        if not report.ok:
            continue
        rf = report.receptive_field
        n_out = report.outputs[0].shape[-1]
        units = range(n_out // 2 - 3, n_out // 2 + 3)
        if n_out >= 8 and all(0 < rf.region(u)[0][0] and rf.region(u)[0][1] < size for u in units):
            break
    else:
        assume(False)
    for u in units:
        _, box = oracle(net, (1, 2, size), index=(u,))
        (lo, hi), = rf.region(u)
        if box == ((0, 0),):
            assert lo == hi  # no input pixel: an empty box
        else:
            assert ((lo, hi),) == box
        assert rf.size[0] >= box[0][1] - box[0][0]
