"""The peak-memory oracle of ``layerscope.training_cost``: a real CPU training step, measured at the allocator.

Run as a script (a fresh process, one thread): for each model of ``MODELS`` it runs one warm-up step (so the
optimizer state exists, as in steady state), then measures a second step: glibc's ``mallinfo2()`` in-use
bytes (arena ``uordblks`` + mmapped ``hblkhd``) read after every aten op under a ``TorchDispatchMode``, minus
the heap before the step, plus the bytes of the parameters, buffers and optimizer state (which were already
in the heap before the step). The batch is made inside the measured step. It prints one JSON line.
The LSTMs run as PyTorch runs them by default on x86 (oneDNN's fused kernel, with its workspace); ``lstm-native``
runs with oneDNN off (PyTorch's native RNN kernels), ``lstm-bf16`` in bfloat16 (oneDNN's bf16 kernel where the CPU
has one).

This is not layerscope: no layerscope code runs here, only torch and glibc.
"""

from __future__ import annotations

import ctypes
import gc
import json
import sys

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


_libc = ctypes.CDLL("libc.so.6")
_libc.mallinfo2.restype = _MallInfo2


def heap() -> int:
    m = _libc.mallinfo2()
    return m.uordblks + m.hblkhd


class _Probe(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.peak = heap()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        h = heap()
        if h > self.peak:
            self.peak = h
        return out


def loss_of(output):
    # the same loss as layerscope's default: the sum of every floating output that requires grad
    outs = []

    def walk(x):
        if isinstance(x, torch.Tensor):
            if x.is_floating_point() and x.requires_grad:
                outs.append(x)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)
    walk(output)
    loss = outs[0].sum()
    for t in outs[1:]:
        loss = loss + t.sum()
    return loss


def make_optimizer(name: str, params):
    return {"sgd": lambda: torch.optim.SGD(params, lr=0.01),
            "sgd-momentum": lambda: torch.optim.SGD(params, lr=0.01, momentum=0.9),
            "adam": lambda: torch.optim.Adam(params),
            "adamw": lambda: torch.optim.AdamW(params)}[name]()


def measure(model: nn.Module, make_input, optimizer: str) -> dict:
    model.train()
    opt = make_optimizer(optimizer, [p for p in model.parameters() if p.requires_grad])

    def step():
        x = make_input()
        loss = loss_of(model(x))
        loss.backward()
        del loss
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # warm-up: optimizer state, oneDNN caches
    gc.collect()
    states = sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values()
                 if isinstance(t, torch.Tensor))
    params = sum(p.numel() * p.element_size() for p in dict.fromkeys(model.parameters()))
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    base = heap()
    with _Probe() as probe:
        step()
    return {"peak": probe.peak - base + params + buffers + states, "params": params, "buffers": buffers,
            "optimizer": states, "dynamic": probe.peak - base}


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.path.insert(0, sys.argv[1])  # the tests folder, for training_models
    import training_models

    torch.manual_seed(0)
    results = {}
    for name in sys.argv[2:]:
        model, shape, optimizer = training_models.build(name)
        if name.endswith("-bf16"):  # precision="bf16": the model (and so the step) in bfloat16
            model = model.to(torch.bfloat16)
        with torch.backends.mkldnn.flags(enabled=not name.endswith("-native")):
            results[name] = measure(model, lambda: training_models.make_input(name, shape), optimizer)
    print(json.dumps(results))
