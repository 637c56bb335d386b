"""Small models of the training-memory oracle: (model, input shape, optimizer), one optimizer each."""

from __future__ import annotations

import torch
from torch import nn


class UNet(nn.Module):
    """A two-level U-Net: conv blocks, max-pool down, transposed-conv up, skip concatenations."""

    def __init__(self, c: int = 16):
        super().__init__()

        def block(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                                 nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(inplace=True))

        self.down1, self.down2, self.mid = block(3, c), block(c, 2 * c), block(2 * c, 4 * c)
        self.pool = nn.MaxPool2d(2)
        self.up2, self.dec2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2), block(4 * c, 2 * c)
        self.up1, self.dec1 = nn.ConvTranspose2d(2 * c, c, 2, stride=2), block(2 * c, c)
        self.head = nn.Conv2d(c, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = self.down1(x)
        d2 = self.down2(self.pool(d1))
        m = self.mid(self.pool(d2))
        u2 = self.dec2(torch.cat([self.up2(m), d2], dim=1))
        u1 = self.dec1(torch.cat([self.up1(u2), d1], dim=1))
        return self.head(u1)


class LSTMTagger(nn.Module):
    def __init__(self, vocab: int = 1000, dim: int = 64, hidden: int = 128, layers: int = 2,
                 bidirectional: bool = False, dropout: float = 0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional,
                            dropout=dropout)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), 10)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(tokens))
        return self.head(out)


def build(name: str) -> tuple[nn.Module, tuple[int, ...], str]:
    import torchvision

    if name == "resnet18":
        return torchvision.models.resnet18(), (4, 3, 128, 128), "adamw"
    if name == "vit":
        vit = torchvision.models.VisionTransformer(image_size=64, patch_size=8, num_layers=4, num_heads=4,
                                                   hidden_dim=128, mlp_dim=512, num_classes=10)
        return vit, (8, 3, 64, 64), "adam"
    if name == "unet":
        return UNet(), (4, 3, 96, 96), "sgd-momentum"
    if name == "mobilenet_v3":
        return torchvision.models.mobilenet_v3_small(), (8, 3, 128, 128), "sgd"
    if name in ("lstm", "lstm-native", "lstm-bf16"):  # -native: oneDNN off; -bf16: the whole step in bf16
        return LSTMTagger(1000, 256, 512, 1), (32, 16), "adamw"
    if name == "lstm-bi":  # two bidirectional layers with dropout between them: oneDNN's layer loop
        return LSTMTagger(1000, 128, 256, 2, bidirectional=True, dropout=0.1), (16, 24), "sgd-momentum"
    raise KeyError(name)


def make_input(name: str, shape: tuple[int, ...], device: str = "cpu") -> torch.Tensor:
    if name.startswith("lstm"):
        return torch.randint(0, 1000, shape, device=device)
    return torch.randn(shape, device=device)
