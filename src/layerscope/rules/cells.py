"""Counting rules for the RNN cells and the weight re-parametrizations.

RNN cells (``nn.LSTMCell``, ``nn.GRUCell``, ``nn.RNNCell`` call ``torch.lstm_cell(x, (h, c), w_ih, w_hh,
b_ih, b_hh)``, ``gru_cell(x, h, ...)``, ``rnn_tanh_cell`` / ``rnn_relu_cell``): one time step of the
corresponding ``nn.LSTM``/``nn.GRU``/``nn.RNN`` layer, with the same convention as ``macs_rnn``:
- MACs  = batch * (numel(w_ih) + numel(w_hh))       (gates x input features + gates x hidden features)
- FLOPs = 2 * MACs + 3 * batch * gate_units          (gate nonlinearities and the cell update, ~3 per unit)
  where gate_units = rows of w_ih (4H for LSTM, 3H for GRU, H for RNN). FlopCounterMode on CPU, which sees
  the addmm/mm the cell decomposes into, counts 2 * MACs for the matrix products.

``_weight_norm(v, g, dim)`` (the legacy ``torch.nn.utils.weight_norm`` pre-hook) computes
``w = g * v / ||v||``: about 4 FLOPs per weight element (square, sum, divide, multiply), no MACs. It works on
the weight, not on the activations, so it does not move spatial positions.
"""

from __future__ import annotations

import torch

from ._registry import Call, OpCost, rule


@rule("lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell")
def macs_rnn_cell(call: Call) -> OpCost:
    x, w_ih, w_hh = call.args[0], call.arg(2, "w_ih"), call.arg(3, "w_hh")
    batch = int(x.shape[0]) if x.dim() == 2 else 1  # (N, I), or an unbatched (I,)
    macs = batch * sum(w.numel() for w in (w_ih, w_hh) if isinstance(w, torch.Tensor))
    gate_units = int(w_ih.shape[0])
    return OpCost(macs, 2 * macs + 3 * batch * gate_units, spatial="global")


@rule("_weight_norm")
def flops_weight_norm(call: Call) -> OpCost:
    v = call.arg(0, "v")
    return OpCost(0, 4 * v.numel(), spatial="channel")
