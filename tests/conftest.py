"""Shared fixtures. The repository root is importable so tests can use ``examples``."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(autouse=True)
def _deterministic_threads():
    import torch

    torch.set_num_threads(1)
    yield
