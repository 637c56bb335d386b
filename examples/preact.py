"""Pre-activation bottleneck with squeeze-and-excitation.

:class:`PreActBottleneckSE` follows the "identity mappings" ordering of He et
al. (2016): every convolution is preceded by BN + ReLU, and nothing is applied
after the residual addition. A squeeze-and-excitation gate (Hu et al., 2018)
rescales the residual branch before it is added to the shortcut.

:func:`preact_se_net` stacks these blocks into a small three-stage network for
3x224x224 inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PreActBottleneckSE", "PreActSENet", "SEGate", "preact_se_net"]


class SEGate(nn.Module):
    """Squeeze-and-excitation gate returning per-channel weights in (0, 1)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc2(F.relu(self.fc1(self.pool(x)))))


class PreActBottleneckSE(nn.Module):
    """BN-ReLU-conv1x1, BN-ReLU-conv3x3 (strided), BN-ReLU-conv1x1, SE, add.

    When the stride or width changes, the shortcut is a 1x1 projection applied
    to the *pre-activated* input, as in the pre-activation ResNet paper.
    """

    expansion: int = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, reduction: int = 16) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.se = SEGate(out_channels, reduction)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        identity = self.shortcut(pre) if self.shortcut is not None else x
        out = self.conv1(pre)
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        out = out * self.se(out)
        out += identity
        return out


class PreActSENet(nn.Module):
    """Stem + stages of :class:`PreActBottleneckSE` + final BN-ReLU + linear head."""

    def __init__(
        self,
        blocks_per_stage: tuple[int, ...] = (2, 2, 2),
        planes_per_stage: tuple[int, ...] = (32, 64, 128),
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        if len(blocks_per_stage) != len(planes_per_stage):
            raise ValueError("blocks_per_stage and planes_per_stage must have equal length")
        stem_channels = 64
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem_channels, 7, stride=2, padding=3, bias=False),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages: list[nn.Module] = []
        channels = stem_channels
        for index, (blocks, planes) in enumerate(zip(blocks_per_stage, planes_per_stage)):
            stage: list[nn.Module] = []
            for i in range(blocks):
                stride = 2 if index > 0 and i == 0 else 1
                stage.append(PreActBottleneckSE(channels, planes, stride))
                channels = planes * PreActBottleneckSE.expansion
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)
        self.final_bn = nn.BatchNorm2d(channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        x = F.relu(self.final_bn(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def preact_se_net(num_classes: int = 10) -> PreActSENet:
    """Three-stage pre-activation SE network (3x224x224 -> 56 -> 28 -> 14)."""
    return PreActSENet(num_classes=num_classes)
