"""VGG-16 (configuration "D" of Simonyan & Zisserman, 2014).

The layout matches the torchvision reference model: 13 3x3 convolutions with
ReLU in five stages separated by 2x2 max pooling, a 7x7 adaptive average pool,
and a three-layer fully connected classifier with dropout. With the default
1000 classes the network has exactly 138,357,544 parameters.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["VGG", "VGG16_CONFIG", "make_vgg_features", "vgg16"]

#: Output channels of each 3x3 conv; ``"M"`` marks a 2x2/stride-2 max pool.
VGG16_CONFIG: list[int | str] = [
    64, 64, "M",
    128, 128, "M",
    256, 256, 256, "M",
    512, 512, 512, "M",
    512, 512, 512, "M",
]


def make_vgg_features(config: list[int | str], in_channels: int = 3) -> nn.Sequential:
    """Build the convolutional trunk described by ``config``."""
    layers: list[nn.Module] = []
    channels = in_channels
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            out_channels = int(item)
            layers.append(nn.Conv2d(channels, out_channels, kernel_size=3, padding=1))
            layers.append(nn.ReLU(inplace=True))
            channels = out_channels
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG network: conv trunk, 7x7 adaptive pool, 3-layer MLP head."""

    def __init__(
        self,
        features: nn.Sequential,
        num_classes: int = 1000,
        dropout: float = 0.5,
        feature_channels: int = 512,
    ) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(feature_channels * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def vgg16(num_classes: int = 1000) -> VGG:
    """VGG-16 without batch norm (138,357,544 parameters at 1000 classes)."""
    return VGG(make_vgg_features(VGG16_CONFIG), num_classes=num_classes)
