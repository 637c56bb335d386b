"""Recurrent layers: every weight matrix is applied once per time step per sequence."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import layerscope


@pytest.mark.parametrize("cls, gates", [(nn.LSTM, 4), (nn.GRU, 3), (nn.RNN, 1)])
def test_rnn_macs(cls, gates):
    model = cls(32, 64, num_layers=2, batch_first=True)
    report = layerscope.analyze(model, inputs=torch.zeros(3, 10, 32))
    # layer 0: gates*H*(I + H), layer 1: gates*H*(H + H); 3 sequences x 10 steps
    expected = gates * 64 * (32 + 64) * 30 + gates * 64 * (64 + 64) * 30
    assert report.complete
    assert report.total_macs == expected
    assert report.total_params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("cls, gates", [(nn.LSTM, 4), (nn.GRU, 3)])
def test_packed_sequence_counts_only_real_steps(cls, gates):
    packed = pack_padded_sequence(torch.zeros(3, 10, 32), torch.tensor([10, 7, 5]), batch_first=True)
    report = layerscope.analyze(cls(32, 64, batch_first=True), inputs=(packed,))
    assert report.complete
    assert report.total_macs == gates * 64 * (32 + 64) * (10 + 7 + 5)


def test_unbatched_sequence():
    report = layerscope.analyze(nn.GRU(8, 16), inputs=torch.zeros(5, 8))
    assert report.total_macs == 3 * 16 * (8 + 16) * 5
