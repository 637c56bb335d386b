"""Tests for the example model zoo in ``examples/``.

The classic families (VGG-16, ResNet-18/50, EfficientNet-B0) are checked
against torchvision three ways: parameter count vs. a freshly built torchvision
model, parameter count vs. torchvision's published weight metadata, and
numerically, by copying a torchvision model's state into ours position by
position and comparing eval-mode outputs. The buggy models are checked to
fail (or run) in plain eager PyTorch exactly as their docstrings say.

No weights are downloaded: everything uses ``weights=None`` and the weight
*metadata* that ships inside torchvision.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn
from torchvision import models

# ``examples`` lives at the repository root, next to ``src/`` and ``tests/``.
_REPO_ROOT = Path(__file__).resolve().parent.parent
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

from examples import buggy  # noqa: E402
from examples.downsampling import (  # noqa: E402
    DownsamplingNet,
    conv_avgpool_net,
    conv_maxpool_net,
    strided_conv_net,
)
from examples.efficientnet import MBConv, efficientnet_b0  # noqa: E402
from examples.preact import PreActBottleneckSE, preact_se_net  # noqa: E402
from examples.resnet import BasicBlock, Bottleneck, resnet18, resnet50  # noqa: E402
from examples.vgg import vgg16  # noqa: E402

# Expected parameter counts at 1000 classes. Source: torchvision's published
# weight metadata, ``models.get_model_weights(name).DEFAULT.meta["num_params"]``
# (VGG16_Weights.IMAGENET1K_V1, ResNet18_Weights.IMAGENET1K_V1,
# ResNet50_Weights.IMAGENET1K_V2, EfficientNet_B0_Weights.IMAGENET1K_V1).
EXPECTED_PARAMS: dict[str, int] = {
    "vgg16": 138_357_544,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "efficientnet_b0": 5_288_548,
}

CLASSIC: dict[str, Callable[[], nn.Module]] = {
    "vgg16": vgg16,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "efficientnet_b0": efficientnet_b0,
}


def _num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _build_meta(factory: Callable[[], nn.Module]) -> nn.Module:
    """Construct without allocating or initialising real storage."""
    with torch.device("meta"):
        return factory()


def _randomise_bn_stats(model: nn.Module, generator: torch.Generator) -> None:
    """Give BN layers non-trivial running statistics and affine parameters."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                module.weight.copy_(0.5 + torch.rand(n, generator=generator))
                module.bias.copy_(0.1 * torch.randn(n, generator=generator))


def _copy_state_positionally(src: nn.Module, dst: nn.Module) -> None:
    """Load ``src``'s state into ``dst`` matching entries by order, not name.

    Also asserts that both have the same number of state entries with the
    same shapes in the same order, i.e. the same layer structure.
    """
    src_items = list(src.state_dict().items())
    dst_keys = list(dst.state_dict().items())
    assert len(src_items) == len(dst_keys)
    mapped = {}
    for (src_key, src_val), (dst_key, dst_val) in zip(src_items, dst_keys):
        assert src_val.shape == dst_val.shape, (src_key, dst_key)
        mapped[dst_key] = src_val
    dst.load_state_dict(mapped)


# ---------------------------------------------------------------------------
# Parameter counts
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_param_count_matches_torchvision_model(name: str) -> None:
    ours = _build_meta(CLASSIC[name])
    with torch.device("meta"):
        reference = models.get_model(name, weights=None)
    assert _num_params(ours) == _num_params(reference) == EXPECTED_PARAMS[name]


@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_param_count_matches_torchvision_metadata(name: str) -> None:
    published = models.get_model_weights(name).DEFAULT.meta["num_params"]
    assert published == EXPECTED_PARAMS[name]
    assert _num_params(_build_meta(CLASSIC[name])) == published


@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_num_classes_argument(name: str) -> None:
    with torch.device("meta"):
        model = CLASSIC[name](num_classes=10)  # type: ignore[call-arg]
    out = model(torch.empty(2, 3, 224, 224, device="meta"))
    assert out.shape == (2, 10)


# ---------------------------------------------------------------------------
# Real CPU forwards and numerical equivalence with torchvision
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_forward_matches_torchvision(name: str, image: torch.Tensor) -> None:
    """Same structure => identical outputs once the weights are shared."""
    torch.manual_seed(0)
    ours = CLASSIC[name]().eval()
    _randomise_bn_stats(ours, torch.Generator().manual_seed(1))
    # Build the reference without its (slow, for VGG) initialisation: its
    # storage is filled from ours anyway.
    with torch.device("meta"):
        reference = models.get_model(name, weights=None)
    reference = reference.to_empty(device="cpu").eval()
    _copy_state_positionally(ours, reference)

    with torch.no_grad():
        out = ours(image)
        expected = reference(image)
    assert out.shape == (1, 1000)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


def test_preact_se_net_forward(image: torch.Tensor) -> None:
    model = preact_se_net().eval()
    with torch.no_grad():
        out = model(image)
    assert out.shape == (1, 10)
    assert torch.isfinite(out).all()
    # Stages: 56x56x128 -> 28x28x256 -> 14x14x512.
    with torch.no_grad():
        feats = model.stages(model.stem(image))
    assert feats.shape == (1, 512, 14, 14)


def test_preact_block_shortcuts() -> None:
    projecting = PreActBottleneckSE(64, 32, stride=2)
    identity = PreActBottleneckSE(128, 32, stride=1)
    assert isinstance(projecting.shortcut, nn.Conv2d)
    assert identity.shortcut is None
    x = torch.randn(1, 64, 16, 16)
    assert projecting(x).shape == (1, 128, 8, 8)
    y = torch.randn(1, 128, 8, 8)
    assert identity(y).shape == y.shape


@pytest.mark.parametrize(
    ("block", "expected_targets"),
    [
        (BasicBlock(64, 64), {F.relu, torch.relu, operator.add}),
        (Bottleneck(256, 64), {F.relu, torch.relu, operator.add}),
        (MBConv(16, 16, 3, 1, 6), {operator.mul, operator.add}),
        (PreActBottleneckSE(64, 16), {F.relu, torch.sigmoid, operator.mul, operator.add}),
    ],
    ids=["BasicBlock", "Bottleneck", "MBConv", "PreActBottleneckSE"],
)
def test_blocks_use_functional_ops(block: nn.Module, expected_targets: set[object]) -> None:
    """Residual adds / activations are functional calls, not modules.

    (torch.fx records ``out += y`` as ``operator.add``.)
    """
    graph = torch.fx.symbolic_trace(block).graph
    targets = {node.target for node in graph.nodes if node.op == "call_function"}
    assert expected_targets <= targets


# ---------------------------------------------------------------------------
# Downsampling comparison
# ---------------------------------------------------------------------------

# Hand count for widths (32, 64, 128, 256), bias-free convs, 10 classes:
# convs 3*32*9 + 32*64*9 + 64*128*9 + 128*256*9 = 387,936;
# BN 2*(32+64+128+256) = 960; linear 256*10 + 10 = 2,570.
DOWNSAMPLING_PARAMS = 391_466
# Conv MACs at 224x224 (params per conv x output pixels):
# strided: 864*112^2 + 18432*56^2 + 73728*28^2 + 294912*14^2 = 184,246,272;
# pooled: every conv runs at twice the resolution, i.e. 4x the MACs.
STRIDED_CONV_MACS = 184_246_272
POOLED_CONV_MACS = 4 * STRIDED_CONV_MACS
# Theoretical receptive fields (r += (k - 1) * jump; jump *= stride):
# strided: four k3/s2 convs -> 1 + 2 * (1 + 2 + 4 + 8) = 31;
# pooled: four (k3/s1 conv, k2/s2 pool) pairs -> 1 + 3 * (1 + 2 + 4 + 8) = 46.
STRIDED_RF = 31
POOLED_RF = 46


def _conv_macs(model: nn.Module, x: torch.Tensor) -> int:
    total = 0

    def hook(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Conv2d)
        total += module.weight.numel() * output.shape[-2] * output.shape[-1]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return total


def _empirical_receptive_field(model: DownsamplingNet) -> int:
    """Extent of the input region that influences one central feature.

    Weights are made positive and BN is identity-like (fresh, eval mode), so
    with a positive input every ReLU is active and every pixel in the
    receptive field receives a non-zero gradient. (Not valid for max pooling,
    whose gradient only reaches the arg-max.)
    """
    model.eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.abs_()
    x = torch.ones(1, 3, 224, 224, requires_grad=True)
    features = model.features(x)
    features[0, 0, 7, 7].backward()
    rows = x.grad[0].abs().sum(dim=(0, 2)).nonzero().flatten()
    cols = x.grad[0].abs().sum(dim=(0, 1)).nonzero().flatten()
    height = int(rows.max() - rows.min() + 1)
    width = int(cols.max() - cols.min() + 1)
    assert height == width
    return height


@pytest.mark.parametrize("factory", [strided_conv_net, conv_maxpool_net, conv_avgpool_net])
def test_downsampling_nets_shapes_and_params(
    factory: Callable[[], DownsamplingNet], image: torch.Tensor
) -> None:
    model = factory().eval()
    assert _num_params(model) == DOWNSAMPLING_PARAMS
    with torch.no_grad():
        assert model.features(image).shape == (1, 256, 14, 14)
        assert model(image).shape == (1, 10)


def test_downsampling_nets_conv_macs(image: torch.Tensor) -> None:
    assert _conv_macs(strided_conv_net(), image) == STRIDED_CONV_MACS
    assert _conv_macs(conv_maxpool_net(), image) == POOLED_CONV_MACS
    assert _conv_macs(conv_avgpool_net(), image) == POOLED_CONV_MACS


def test_downsampling_nets_receptive_field() -> None:
    torch.manual_seed(0)
    assert _empirical_receptive_field(strided_conv_net()) == STRIDED_RF
    # Max pooling has the same geometry as average pooling, hence the same RF.
    assert _empirical_receptive_field(conv_avgpool_net()) == POOLED_RF


def test_downsampling_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError):
        DownsamplingNet("dilated")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Buggy models
# ---------------------------------------------------------------------------

RAISING = sorted(name for name, case in buggy.BUG_CASES.items() if case.raises)
LINT = sorted(name for name, case in buggy.BUG_CASES.items() if not case.raises)


def test_bug_catalogue_is_complete() -> None:
    assert set(buggy.BUG_CASES) == set(buggy.__all__) - {"BUG_CASES", "BugCase"}
    for name, case in buggy.BUG_CASES.items():
        assert case.model.__name__ == name
        assert case.model.__doc__, f"{name} must document its bug"


@pytest.mark.parametrize("name", RAISING)
def test_buggy_model_raises(name: str) -> None:
    case = buggy.BUG_CASES[name]
    model = case.model().eval()
    with torch.no_grad(), pytest.raises(RuntimeError):
        model(torch.randn(case.bad_input))


@pytest.mark.parametrize("name", sorted(n for n, c in buggy.BUG_CASES.items() if c.good_input))
def test_buggy_model_runs_at_good_input(name: str) -> None:
    case = buggy.BUG_CASES[name]
    assert case.good_input is not None
    with torch.no_grad():
        case.model().eval()(torch.randn(case.good_input))


@pytest.mark.parametrize("name", LINT)
def test_lint_model_runs(name: str) -> None:
    case = buggy.BUG_CASES[name]
    with torch.no_grad():
        out = case.model().eval()(torch.randn(case.bad_input))
    assert torch.isfinite(out).all()


def test_residual_no_downsample_branch_shapes() -> None:
    model = buggy.ResidualNoDownsample().eval()
    x = torch.randn(1, 64, 32, 32)
    with torch.no_grad():
        main = model.bn2(model.conv2(model.conv1(x)))
    assert main.shape == (1, 128, 16, 16)
    assert model.shortcut(x).shape == (1, 64, 32, 32)


def test_linear_head_expects_7x7_feature_sizes() -> None:
    model = buggy.LinearHeadExpects7x7().eval()
    with torch.no_grad():
        assert model.features(torch.randn(1, 3, 224, 224)).shape == (1, 64, 7, 7)
        assert model.features(torch.randn(1, 3, 128, 128)).shape == (1, 64, 4, 4)
    assert model.classifier.in_features == 64 * 7 * 7


@pytest.mark.parametrize(("size", "ok"), [(64, True), (100, True), (65, False), (66, False), (98, False)])
def test_unet_needs_multiple_of_four(size: int, ok: bool) -> None:
    model = buggy.UNetOddInput().eval()
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        if ok:
            assert model(x).shape == (1, 2, size, size)
        else:
            with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
                model(x)


def test_matmul_mismatch_silent_when_square() -> None:
    """With as many tokens as features ``q @ k`` type-checks (silently wrong)."""
    model = buggy.MatmulMismatch(dim=32).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 32, 32)).shape == (1, 32, 32)


def test_two_independent_bugs_each_branch_fails_alone() -> None:
    model = buggy.TwoIndependentBugs().eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        with pytest.raises(RuntimeError, match="channels"):
            model.branch_a(x)
        with pytest.raises(RuntimeError, match="cannot be multiplied"):
            model.branch_b(x)


def test_silent_broadcast_keeps_input_shape() -> None:
    model = buggy.SilentBroadcastResidual().eval()
    x = torch.randn(1, 32, 16, 16)
    with torch.no_grad():
        assert model.branch(x).shape == (1, 1, 16, 16)
        assert model(x).shape == x.shape


def test_lint_model_details() -> None:
    assert buggy.ConvBiasBeforeBN().conv.bias is not None
    up = buggy.CheckerboardDeconv().up
    assert up.kernel_size[0] % up.stride[0] != 0
    with torch.no_grad():
        assert buggy.CheckerboardDeconv()(torch.randn(1, 32, 16, 16)).shape == (1, 3, 32, 32)
    plain = buggy.DeepPlainStack()
    assert sum(isinstance(m, nn.Conv2d) for m in plain.modules()) == 12
