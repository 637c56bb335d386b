"""What oneDNN's CPU kernels allocate that their meta kernels do not show.

PyTorch runs ``nn.LSTM`` on CPU through oneDNN (``torch.backends.mkldnn``, on by default on x86): one
``aten.mkldnn_rnn_layer`` per layer and direction. With grad mode on, each call returns a byte *workspace*
that autograd saves for ``mkldnn_rnn_layer_backward``: the gates, the hidden and cell states of every time
step and room for their gradients. The meta kernel returns it empty (0 bytes), so the training step would
miss it; :func:`lstm_workspace_bytes` gives its size.

The layout is oneDNN's (``src/cpu/rnn/rnn_utils.hpp``, ``set_workspace_sizes``; one layer, one direction per
call), every part starting on a 4096-byte page:

- gates ``T * B * ld(4H)``, in the input's dtype; the output states ``T * B * ld(H)``;
- the layer states ``(L+1) * (T+1) * B * ld(max(I, H))`` (the iteration states share them), the cell states
  ``(L+1) * (T+1) * B * H`` in the cell state's dtype;
- two state gradients ``(L+1) * (T+1) * B * ld(max(I, H))`` and the cell gradient ``(L+1) * (T+1) * B * H``,
  in fp32;

with ``L = 1`` and ``ld(d)`` oneDNN's "good leading dimension": ``d`` rounded up to 64 bytes, plus 64 bytes
when that is a multiple of 256 elements (4K aliasing). ``tests/test_rules_onednn.py`` checks it against the
real kernel's workspace on CPU.
"""

from __future__ import annotations

from typing import Any, Callable

PAGE = 4096


def _good_ld(dim: int, itemsize: int) -> int:
    step = 64 // itemsize
    ld = -(-dim // step) * step
    return ld + step if ld % 256 == 0 else ld


def _page(n: int) -> int:
    return -(-n // PAGE) * PAGE


def lstm_workspace_bytes(seq_len: int, batch: int, input_size: int, hidden_size: int, itemsize: int,
                         cell_itemsize: int) -> int:
    """Bytes of the workspace one ``mkldnn_rnn_layer`` LSTM call keeps for backward (grad mode on)."""
    t, b, h = seq_len, batch, hidden_size
    wide = max(input_size, hidden_size)
    states = 2 * (t + 1) * b  # (layers + 1) * (steps + 1) * batch, one layer per call
    parts = (
        t * b * _good_ld(4 * h, itemsize) * itemsize,  # gates
        t * b * _good_ld(h, itemsize) * itemsize,  # output states
        states * _good_ld(wide, itemsize) * itemsize,  # layer (= iteration) states
        states * h * cell_itemsize,  # cell states
        states * _good_ld(wide, 4) * 4,  # gradient of the layer states (fp32)
        states * _good_ld(wide, 4) * 4,  # gradient of the iteration states (fp32)
        states * h * 4,  # gradient of the cell states (fp32)
    )
    return sum(_page(p) for p in parts)


def _mkldnn_rnn_layer(args: tuple) -> int:
    # mkldnn_rnn_layer(input (T, B, I), w0, w1, w2, w3, hx (B, H), cx (B, H), reverse, batch_sizes, mode,
    #                  hidden_size, ...): the input is time-major and contiguous
    x, cx, hidden = args[0], args[6], int(args[10])
    return lstm_workspace_bytes(x.shape[0], x.shape[1], x.shape[2], hidden, x.element_size(), cx.element_size())


_WORKSPACE: dict[str, Callable[[tuple], int]] = {"mkldnn_rnn_layer": _mkldnn_rnn_layer}


def workspace_rule(aten_name: str) -> Callable[[tuple], int] | None:
    """The rule giving the workspace bytes an aten op (by overload-packet name) returns on a real device
    where its meta kernel returns none; None for ops whose meta outputs are already their real size."""
    return _WORKSPACE.get(aten_name)


def onednn_lstm_applies(x: Any, hx: Any, torch: Any) -> bool:
    """Whether PyTorch's CPU ``lstm`` would take oneDNN for this input (``use_mkldnn`` in
    aten/src/ATen/native/RNN.cpp, under grad mode): oneDNN enabled, fp32 input (bf16 where the CPU supports
    it; fp16 only without grad), no projections (``proj_size=0``), a non-empty input."""
    if not (torch.backends.mkldnn.is_available() and torch._C._get_mkldnn_enabled()):
        return False
    if not isinstance(hx, (list, tuple)) or len(hx) != 2 or hx[0].shape[-1] != hx[1].shape[-1]:
        return False
    if x.numel() == 0:
        return False
    if x.dtype == torch.float32:
        return True
    return x.dtype == torch.bfloat16 and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


__all__ = ["lstm_workspace_bytes", "onednn_lstm_applies", "workspace_rule"]
