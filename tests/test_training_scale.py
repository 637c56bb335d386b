"""Scale: training_cost of the ~6.4B-parameter transformer of test_scale_transformer.py, on meta, batch 1,
AdamW, bf16-mixed, in a fresh subprocess (its peak RSS is this analysis alone).

The model states are analytic: fp32 master weights (4 bytes/param), fp32 gradients (4), AdamW's two moments
(8); during forward and backward the bf16 copies autocast makes of the linear layers' weights and biases add
2 bytes per cast param (LayerNorm runs in fp32: its params are not cast). The step's peak is in the
optimizer step, at the largest weight: PyTorch's single-tensor AdamW computes
``denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)``: two temporaries of that weight's size,
while the previous parameter's ``denom`` (the preceding bias) is still referenced by the loop variable.
FlopCounterMode (on meta too) checks the backward MACs exactly.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from test_scale_transformer import D, FFN, HEADS, LAYERS, SEQ, analytic_params

SCRIPT = textwrap.dedent(f"""
    import json, torch, layerscope
    from torch.utils.flop_counter import FlopCounterMode
    torch.set_num_threads(1)

    def peak_rss():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024

    with torch.device("meta"):
        layer = torch.nn.TransformerEncoderLayer({D}, {HEADS}, {FFN}, batch_first=True)
        model = torch.nn.TransformerEncoder(layer, {LAYERS})
    x = torch.empty(1, {SEQ}, {D}, device="meta")
    t = layerscope.training_cost(model, inputs=x, optimizer="adamw", precision="bf16-mixed")
    forward_end = [p for p in t.timeline if p.phase == "forward"][-1]
    rss = peak_rss()
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    print(json.dumps({{"peak": t.peak_bytes, "breakdown": t.breakdown, "phase": t.peak_phase,
                      "forward_end_params": forward_end.params, "fwd": t.forward_macs, "bwd": t.backward_macs,
                      "flop_counter": counter.get_total_flops(), "complete": t.complete, "rss": rss}}))
""")


@pytest.mark.slow
def test_6b_transformer_training_step_is_analytic_in_bounded_memory():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    n = analytic_params()
    ln_params = LAYERS * 2 * 2 * D  # two LayerNorms (weight, bias) per layer: not cast by autocast
    assert r["breakdown"]["params"] == 4 * n
    assert r["breakdown"]["grads"] == 4 * n
    assert r["breakdown"]["optimizer"] == 8 * n
    assert r["forward_end_params"] == 4 * n + 2 * (n - ln_params)  # "params 2 + 4 bytes" while the bf16 copies live
    assert r["phase"] == "step"
    input_bytes = SEQ * D * 4
    adamw_temporaries = 2 * 4 * D * FFN + 4 * FFN  # sqrt and div of linear2.weight, linear1.bias's denom
    assert r["breakdown"]["workspace"] == adamw_temporaries
    assert r["breakdown"]["activations"] == input_bytes  # of the forward, only the input batch is left
    assert r["peak"] == 16 * n + input_bytes + adamw_temporaries
    assert r["complete"]
    assert 2 * (r["fwd"] + r["bwd"]) == r["flop_counter"]
    assert r["rss"] < 2e9, r
