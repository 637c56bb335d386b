"""EfficientNet-B0 (Tan & Le, 2019) built from MBConv blocks.

Structure (and hence the parameter count, 5,288,548 at 1000 classes) matches
torchvision's ``efficientnet_b0``:

* stem: 3x3/2 conv to 32 channels + BN + SiLU;
* seven stages of MBConv blocks, see :data:`B0_STAGES`;
* each MBConv: optional 1x1 expansion, depthwise kxk conv, squeeze-and-
  excitation (squeeze width ``max(1, block_in_channels // 4)``, 1x1 convs with
  bias), 1x1 linear projection, and a residual add when stride is 1 and the
  channel count is unchanged;
* head: 1x1 conv to 1280 + BN + SiLU, global average pool, dropout, linear.

BatchNorm uses PyTorch defaults, as torchvision does for B0. Stochastic depth
is omitted: it is the identity in eval mode and has no
parameters.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

__all__ = ["B0_STAGES", "EfficientNet", "MBConv", "SqueezeExcitation", "StageSpec", "efficientnet_b0"]

class StageSpec(NamedTuple):
    """One EfficientNet stage: ``repeats`` MBConv blocks."""

    expand_ratio: int
    kernel: int
    stride: int
    channels: int
    repeats: int


#: (expand, kernel, stride, out channels, repeats) for EfficientNet-B0.
B0_STAGES: tuple[StageSpec, ...] = (
    StageSpec(1, 3, 1, 16, 1),
    StageSpec(6, 3, 2, 24, 2),
    StageSpec(6, 5, 2, 40, 2),
    StageSpec(6, 3, 2, 80, 3),
    StageSpec(6, 5, 1, 112, 3),
    StageSpec(6, 5, 2, 192, 4),
    StageSpec(6, 3, 1, 320, 1),
)


def _conv_bn_act(
    in_channels: int,
    out_channels: int,
    kernel: int,
    stride: int = 1,
    groups: int = 1,
    act: bool = True,
) -> nn.Sequential:
    """Bias-free conv ("same" padding for odd kernels) + BN (+ SiLU)."""
    layers: list[nn.Module] = [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel,
            stride=stride,
            padding=kernel // 2,
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
    ]
    if act:
        layers.append(nn.SiLU(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """Channel gate: global pool, 1x1 reduce, SiLU, 1x1 expand, sigmoid.

    Returns the gate (shape ``N x C x 1 x 1``); the caller multiplies it in.
    """

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.act = nn.SiLU(inplace=True)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))


class MBConv(nn.Module):
    """Mobile inverted bottleneck with squeeze-and-excitation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        stride: int,
        expand_ratio: int,
    ) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        self.use_residual = stride == 1 and in_channels == out_channels
        self.expand: nn.Module = (
            _conv_bn_act(in_channels, hidden, 1) if expand_ratio != 1 else nn.Identity()
        )
        self.depthwise = _conv_bn_act(hidden, hidden, kernel, stride=stride, groups=hidden)
        self.se = SqueezeExcitation(hidden, max(1, in_channels // 4))
        self.project = _conv_bn_act(hidden, out_channels, 1, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.depthwise(self.expand(x))
        out = out * self.se(out)
        out = self.project(out)
        if self.use_residual:
            out = out + x
        return out


class EfficientNet(nn.Module):
    """EfficientNet trunk + classifier for a given list of stages."""

    def __init__(
        self,
        stages: tuple[StageSpec, ...] = B0_STAGES,
        num_classes: int = 1000,
        stem_channels: int = 32,
        head_channels: int = 1280,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_act(3, stem_channels, 3, stride=2)]
        channels = stem_channels
        for spec in stages:
            blocks: list[nn.Module] = []
            for i in range(spec.repeats):
                stride = spec.stride if i == 0 else 1
                blocks.append(MBConv(channels, spec.channels, spec.kernel, stride, spec.expand_ratio))
                channels = spec.channels
            layers.append(nn.Sequential(*blocks))
        layers.append(_conv_bn_act(channels, head_channels, 1))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout, inplace=True),
            nn.Linear(head_channels, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.classifier(x)


def efficientnet_b0(num_classes: int = 1000) -> EfficientNet:
    """EfficientNet-B0 (5,288,548 parameters at 1000 classes)."""
    return EfficientNet(B0_STAGES, num_classes=num_classes)
