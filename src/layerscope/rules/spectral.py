"""Counting rules for ``torch.fft``: FLOPs by the usual FFT convention, no MACs.

A length-N complex FFT costs about 5 N log2 N real FLOPs (radix-2 Cooley-Tukey: N/2 log2 N butterflies of
one complex multiply, 6 FLOPs, and two complex adds, 4 FLOPs; the figure FFTW's benchmarks use). A
transform over several dims of sizes N1..Nk counts as one of length L = N1*...*Nk. Real-input (``rfft*``,
``ihfft*``) and real-output (``irfft*``, ``hfft*``) transforms cost half. For a batch of B transforms:
FLOPs = c * B * L * log2(L) with c = 5 (complex) or 2.5 (real). FlopCounterMode counts FFTs as 0 and the
exact count depends on the library's radix choices, so this is an estimate of the standard kind, stated here.
The receptive field after an FFT is not followed (spatial ``unknown``, LS404).
"""

from __future__ import annotations

import math



from ._registry import Call, OpCost, rule

_ONE = ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft")
_TWO = ("fft2", "ifft2", "rfft2", "irfft2", "hfft2", "ihfft2")
_N = ("fftn", "ifftn", "rfftn", "irfftn", "hfftn", "ihfftn")
_REAL_IN = {"rfft", "ihfft"}
_REAL_OUT = {"irfft", "hfft"}


def _dims(call: Call, base: str, ndim: int) -> list[int]:
    if base in _ONE:
        d = call.arg(2, "dim", -1)
        dims = [d]
    else:
        d = call.arg(2, "dim", (-2, -1) if base in _TWO else None)
        if d is None:
            s = call.arg(1, "s", None)
            dims = list(range(ndim - len(s), ndim)) if s is not None else list(range(ndim))
        else:
            dims = [d] if isinstance(d, int) else list(d)
    return [x % ndim for x in dims]


@rule(*(f"fft_{n}" for n in _ONE + _TWO + _N))
def flops_fft(call: Call) -> OpCost:
    base = call.name[len("fft_"):]
    kind = base.rstrip("2n") if base not in _ONE else base
    x, out = call.args[0], call.out
    real_in, real_out = kind in _REAL_IN, kind in _REAL_OUT
    # the transform lengths are the sizes on the full-length side: the real output of a c2r transform, the
    # complex output of a c2c one, the (n/s-adjusted) real input of an r2c one
    full = out if not real_in else x
    dims = _dims(call, base, full.dim())
    lengths = [int(full.shape[d]) for d in dims]
    if real_in:
        given = call.arg(1, "n" if base in _ONE else "s", None)
        if given is not None:
            lengths = [int(v) for v in ([given] if isinstance(given, int) else given)]
    length = math.prod(lengths)
    batch = full.numel() // max(1, math.prod(int(full.shape[d]) for d in dims))
    c = 2.5 if (real_in or real_out) else 5.0
    flops = int(c * batch * length * math.log2(length)) if length > 1 else 0
    return OpCost(0, flops, spatial="unknown")


__all__ = ["flops_fft"]
