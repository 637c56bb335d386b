"""Three otherwise-identical CNNs that differ only in how they downsample.

Each network has four stages ``conv3x3 -> BN -> ReLU -> downsample`` with
widths 32, 64, 128, 256, taking 3x224x224 to 256x14x14, followed by global
average pooling and a 10-class linear head. The downsampling is either

* ``"strided"``: the stage's conv itself has stride 2 (no pooling layer);
* ``"maxpool"``: stride-1 conv followed by 2x2/2 max pooling;
* ``"avgpool"``: stride-1 conv followed by 2x2/2 average pooling.

All three have the same parameters (pooling has none), but the strided variant
spends about 4x fewer conv MACs per stage and has a smaller receptive field
(31 px vs 46 px for the pooled variants).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

__all__ = [
    "DownsamplingNet",
    "DownsampleMode",
    "conv_avgpool_net",
    "conv_maxpool_net",
    "strided_conv_net",
]

DownsampleMode = Literal["strided", "maxpool", "avgpool"]


class DownsamplingNet(nn.Module):
    """Four conv stages, each halving the resolution with the given ``mode``."""

    def __init__(
        self,
        mode: DownsampleMode,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        if mode not in ("strided", "maxpool", "avgpool"):
            raise ValueError(f"unknown downsampling mode: {mode!r}")
        self.mode = mode
        stages: list[nn.Module] = []
        channels = 3
        for width in widths:
            stride = 2 if mode == "strided" else 1
            layers: list[nn.Module] = [
                nn.Conv2d(channels, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            if mode == "maxpool":
                layers.append(nn.MaxPool2d(2, stride=2))
            elif mode == "avgpool":
                layers.append(nn.AvgPool2d(2, stride=2))
            stages.append(nn.Sequential(*layers))
            channels = width
        self.features = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.fc(torch.flatten(self.pool(x), 1))


def strided_conv_net(num_classes: int = 10) -> DownsamplingNet:
    """Downsample with stride-2 convolutions."""
    return DownsamplingNet("strided", num_classes=num_classes)


def conv_maxpool_net(num_classes: int = 10) -> DownsamplingNet:
    """Downsample with stride-1 conv + 2x2 max pooling."""
    return DownsamplingNet("maxpool", num_classes=num_classes)


def conv_avgpool_net(num_classes: int = 10) -> DownsamplingNet:
    """Downsample with stride-1 conv + 2x2 average pooling."""
    return DownsamplingNet("avgpool", num_classes=num_classes)
