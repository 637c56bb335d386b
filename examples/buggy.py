"""Deliberately broken models, for exercising shape-bug diagnostics.

Every class documents its bug in its docstring. :data:`BUG_CASES` records, for
each model, an input shape at which it misbehaves, an input shape at which it
runs (if any), and whether the misbehaviour is a hard ``RuntimeError`` in eager
PyTorch or a silent "lint" problem that runs without error.

All constructors take no required arguments.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "BUG_CASES",
    "BadReshape",
    "BugCase",
    "CheckerboardDeconv",
    "ConvBiasBeforeBN",
    "ConvChannelMismatch",
    "DeepPlainStack",
    "LinearHeadExpects7x7",
    "MatmulMismatch",
    "ResidualNoDownsample",
    "SilentBroadcastResidual",
    "TwoIndependentBugs",
    "UNetOddInput",
]


def _conv_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
        nn.ReLU(inplace=True),
    )


# ---------------------------------------------------------------------------
# Hard shape errors (raise RuntimeError in eager mode)
# ---------------------------------------------------------------------------


class ResidualNoDownsample(nn.Module):
    """Residual block whose shortcut forgot the projection.

    Bug: the main branch has stride 2 and widens 64 -> 128 channels, so it
    produces ``N x 128 x H/2 x W/2``, but the shortcut is the identity
    (``N x 64 x H x W``). The ``out += identity`` add raises. Fails for any
    input, e.g. ``1 x 64 x 32 x 32``.
    """

    def __init__(self, in_channels: int = 64, out_channels: int = 128) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()  # BUG: needs 1x1 conv, stride 2, 64 -> 128

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.shortcut(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return F.relu(out)


class LinearHeadExpects7x7(nn.Module):
    """VGG-like classifier whose head hard-codes a 7x7 feature map.

    Five conv + 2x2 max-pool stages reduce the input 32x, so only 224x224 input
    yields ``64 x 7 x 7 = 3136`` flattened features. At 128x128 the features
    are ``64 x 4 x 4 = 1024`` and ``Linear(3136, 10)`` raises.
    Works at ``1 x 3 x 224 x 224``; fails at ``1 x 3 x 128 x 128``.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        widths = (16, 32, 64, 64, 64)
        layers: list[nn.Module] = []
        channels = 3
        for width in widths:
            layers += [_conv_relu(channels, width), nn.MaxPool2d(2, 2)]
            channels = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(64 * 7 * 7, num_classes)  # BUG: assumes 224 input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.features(x), 1)
        return self.classifier(x)


class UNetOddInput(nn.Module):
    """Three-level U-Net that only works when H and W are multiples of 4.

    Down: two 2x2 max pools (floor division). Up: ``ConvTranspose2d(k=2, s=2)``
    (exact doubling), then ``torch.cat`` with the skip along dim 1. If a side is
    not divisible by 4 the upsampled map is smaller than the skip and the
    concat raises (65 -> 32 -> 16 -> 32 -> 64 vs 65; 66 -> 33 -> 16 -> 32 vs
    33). Works at ``1 x 3 x 64 x 64`` (and 100x100, 100 = 4 * 25); fails at
    65x65, 66x66 and 98x98.
    """

    def __init__(self, in_channels: int = 3, base: int = 16, num_classes: int = 2) -> None:
        super().__init__()
        self.enc1 = nn.Sequential(_conv_relu(in_channels, base), _conv_relu(base, base))
        self.enc2 = nn.Sequential(_conv_relu(base, 2 * base), _conv_relu(2 * base, 2 * base))
        self.bottleneck = nn.Sequential(_conv_relu(2 * base, 4 * base), _conv_relu(4 * base, 4 * base))
        self.pool = nn.MaxPool2d(2, 2)
        self.up2 = nn.ConvTranspose2d(4 * base, 2 * base, kernel_size=2, stride=2)
        self.dec2 = nn.Sequential(_conv_relu(4 * base, 2 * base), _conv_relu(2 * base, 2 * base))
        self.up1 = nn.ConvTranspose2d(2 * base, base, kernel_size=2, stride=2)
        self.dec1 = nn.Sequential(_conv_relu(2 * base, base), _conv_relu(base, base))
        self.head = nn.Conv2d(base, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = self.enc1(x)
        s2 = self.enc2(self.pool(s1))
        b = self.bottleneck(self.pool(s2))
        d2 = self.dec2(torch.cat([self.up2(b), s2], dim=1))  # BUG: no crop/pad
        d1 = self.dec1(torch.cat([self.up1(d2), s1], dim=1))
        return self.head(d1)


class ConvChannelMismatch(nn.Module):
    """Second conv declares 32 input channels but receives 16.

    Fails for any input, e.g. ``1 x 3 x 32 x 32``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)  # BUG: should be 16 in-channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(x)))


class MatmulMismatch(nn.Module):
    """Self-attention that forgets to transpose the keys.

    ``q @ k`` multiplies ``N x L x D`` by ``N x L x D``, which only type-checks
    when ``L == D`` (and is then silently wrong). With the default ``dim=32``
    it fails at ``1 x 16 x 32`` (tokens x features); the correct expression is
    ``q @ k.transpose(-2, -1)``.
    """

    def __init__(self, dim: int = 32) -> None:
        super().__init__()
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.scale = dim**-0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.q(x), self.k(x), self.v(x)
        scores = torch.matmul(q, k) * self.scale  # BUG: k must be transposed
        return torch.matmul(scores.softmax(dim=-1), v)


class BadReshape(nn.Module):
    """``view`` to a size assuming one more pooling than actually happens.

    On ``1 x 3 x 32 x 32`` the features are ``16 x 16 x 16 = 4096`` elements
    per sample, but ``x.view(N, 16 * 8 * 8)`` asks for 1024 and raises.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc = nn.Linear(16 * 8 * 8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv(x)))
        x = x.view(x.size(0), 16 * 8 * 8)  # BUG: actual size is 16 * 16 * 16
        return self.fc(x)


class TwoIndependentBugs(nn.Module):
    """Two parallel branches, each with its own, unrelated shape bug.

    * ``branch_a``: its second conv expects 32 input channels but gets 16.
    * ``branch_b``: a stride-2 conv gives ``16 x 16 x 16`` features on a 32x32
      input, but the linear head expects ``16 x 8 x 8``.

    Eager execution stops at the first bug (``branch_a``); a good analyzer
    should report both. Each branch fails on its own at ``1 x 3 x 32 x 32``.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.branch_a = nn.Sequential(
            _conv_relu(3, 16),
            nn.Conv2d(32, 32, 3, padding=1),  # BUG 1: in-channels should be 16
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(32, num_classes),
        )
        self.branch_b = nn.Sequential(
            _conv_relu(3, 16, stride=2),
            nn.Flatten(),
            nn.Linear(16 * 8 * 8, num_classes),  # BUG 2: should be 16 * 16 * 16
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branch_a(x) + self.branch_b(x)


# ---------------------------------------------------------------------------
# Lint-level problems (run without error)
# ---------------------------------------------------------------------------


class SilentBroadcastResidual(nn.Module):
    """A 1-channel branch added to a 32-channel tensor.

    The branch ends in ``Conv2d(16, 1)``, so ``x + branch(x)`` broadcasts the
    single channel across all 32: no error, output shape equals input shape,
    but almost certainly not what was meant. Runs at ``1 x 32 x 16 x 16``.
    """

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 1, 3, padding=1),  # BUG: should output `channels`
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


class ConvBiasBeforeBN(nn.Module):
    """Conv with ``bias=True`` directly followed by BatchNorm.

    The bias is cancelled by BN's mean subtraction: wasted parameters. Runs at
    ``1 x 3 x 32 x 32``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 32, 3, padding=1, bias=True)  # LINT: bias before BN
        self.bn = nn.BatchNorm2d(32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class CheckerboardDeconv(nn.Module):
    """Upsampling with ``ConvTranspose2d(kernel_size=3, stride=2)``.

    The kernel size is not divisible by the stride, so output pixels receive
    uneven numbers of contributions (checkerboard artifacts). Runs and exactly
    doubles the resolution: ``1 x 32 x 16 x 16 -> 1 x 3 x 32 x 32``.
    """

    def __init__(self, in_channels: int = 32, out_channels: int = 3) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(
            in_channels, out_channels, kernel_size=3, stride=2, padding=1, output_padding=1
        )  # LINT: kernel 3 not divisible by stride 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(x)


class DeepPlainStack(nn.Module):
    """Twelve 3x3 conv + ReLU layers with no skip connections and no norm.

    Trainability hazard (vanishing gradients / degradation), not a shape bug.
    Runs at ``1 x 3 x 32 x 32`` and returns ``1 x 10``.
    """

    def __init__(self, depth: int = 12, width: int = 32, num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for _ in range(depth):
            layers.append(_conv_relu(channels, width))
            channels = width
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.body(x)), 1))


# ---------------------------------------------------------------------------
# Catalogue
# ---------------------------------------------------------------------------


class BugCase(NamedTuple):
    """How to trigger the problem in one buggy model."""

    model: type[nn.Module]
    bad_input: tuple[int, ...]
    good_input: tuple[int, ...] | None
    raises: bool


#: name -> case. ``bad_input`` triggers the bug (``RuntimeError`` if ``raises``,
#: otherwise a silent lint problem); ``good_input`` runs cleanly, if one exists.
BUG_CASES: dict[str, BugCase] = {
    "ResidualNoDownsample": BugCase(ResidualNoDownsample, (1, 64, 32, 32), None, True),
    "LinearHeadExpects7x7": BugCase(LinearHeadExpects7x7, (1, 3, 128, 128), (1, 3, 224, 224), True),
    "UNetOddInput": BugCase(UNetOddInput, (1, 3, 65, 65), (1, 3, 64, 64), True),
    "ConvChannelMismatch": BugCase(ConvChannelMismatch, (1, 3, 32, 32), None, True),
    "MatmulMismatch": BugCase(MatmulMismatch, (1, 16, 32), None, True),
    "BadReshape": BugCase(BadReshape, (1, 3, 32, 32), None, True),
    "TwoIndependentBugs": BugCase(TwoIndependentBugs, (1, 3, 32, 32), None, True),
    "SilentBroadcastResidual": BugCase(SilentBroadcastResidual, (1, 32, 16, 16), None, False),
    "ConvBiasBeforeBN": BugCase(ConvBiasBeforeBN, (1, 3, 32, 32), None, False),
    "CheckerboardDeconv": BugCase(CheckerboardDeconv, (1, 32, 16, 16), None, False),
    "DeepPlainStack": BugCase(DeepPlainStack, (1, 3, 32, 32), None, False),
}
