"""Small models more than one test file builds (the bug zoo proper is ``examples/buggy.py``)."""

import torch
from torch import nn


class AddConstant(nn.Module):
    """A conv output plus a (5,) buffer: the add cannot broadcast (LS107, "from a constant")."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.register_buffer("offset", torch.zeros(5))

    def forward(self, x):
        return self.conv(x) + self.offset
