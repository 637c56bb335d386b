"""Scale: a ~6.4B-parameter nn.TransformerEncoder built on meta, analyzed with every matmul counted.

Runs in a fresh subprocess so that its peak RSS is this analysis alone (plus the interpreter and torch).
The peak-RSS bound (1.5 GB) is asserted: with meta tensors it does not depend on the machine's speed, only
on what layerscope keeps per recorded op (a copy of the weights would be 25.8 GB, of one layer's activations
hundreds of MB), so a regression that starts materializing tensors fails it. Wall time is *not* asserted
(machine-dependent); ``benchmarks/bench.py`` measures it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

D, HEADS, FFN, LAYERS, SEQ = 4096, 32, 16384, 32, 2048

SCRIPT = textwrap.dedent(f"""
    import json, resource, time, torch, layerscope
    torch.set_num_threads(1)

    def peak_rss():
        # VmHWM: this process image's own high-water mark. ru_maxrss would not do: Linux carries it over
        # from the parent across fork/exec, so under a big pytest process it reports pytest's size.
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    with torch.device("meta"):
        layer = torch.nn.TransformerEncoderLayer({D}, {HEADS}, {FFN}, batch_first=True)
        model = torch.nn.TransformerEncoder(layer, {LAYERS})
    model.eval()
    t0 = time.perf_counter()
    report = layerscope.analyze(model, inputs=torch.empty(1, {SEQ}, {D}, device="meta"))
    seconds = time.perf_counter() - t0
    print(json.dumps({{
        "macs": report.total_macs, "params": report.total_params, "complete": report.complete,
        "ok": report.ok, "nodes": len(report.nodes), "seconds": seconds,
        "peak_rss": peak_rss(),
    }}))
""")


def analytic_macs(d: int = D, ffn: int = FFN, layers: int = LAYERS, seq: int = SEQ) -> int:
    # per layer: q, k, v and out projections 4*L*d^2; Q K^T and A V 2*L^2*d; the FFN 2*L*d*ffn
    return layers * (4 * seq * d * d + 2 * seq * seq * d + 2 * seq * d * ffn)


def analytic_params(d: int = D, ffn: int = FFN, layers: int = LAYERS) -> int:
    # in_proj (3d x d + 3d), out_proj (d x d + d), linear1 (ffn x d + ffn), linear2 (d x ffn + d), 2 LayerNorms
    return layers * (3 * d * d + 3 * d + d * d + d + ffn * d + ffn + d * ffn + d + 2 * 2 * d)


def test_analytic_figures_are_the_issues():
    assert round(analytic_macs() / 1e12, 2) == 14.29  # "14.29 TMACs"
    assert round(analytic_params() / 1e9, 1) == 6.4  # "~6.4B parameters"


@pytest.mark.slow
def test_6b_transformer_counts_every_matmul_in_bounded_memory():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["complete"]
    assert result["macs"] == analytic_macs()
    assert result["params"] == analytic_params()
    assert result["peak_rss"] < 1.5e9, result
