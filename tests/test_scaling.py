"""Scaling studies: power-law fits against independent oracles (fvcore's counts, analytic arithmetic),
EfficientNet compound scaling against torchvision's published GMACs, and sweeps on process pools and a local
Dask cluster."""

import math
import os
import subprocess
import sys

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

import layerscope  # noqa: E402
from layerscope.scaling import (compound_scaling, configurations, efficientnet_family,  # noqa: E402
                                fit_power_law)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------------------------- fits
def test_fit_power_law_recovers_exact_law():
    xs = [2, 3, 5, 8]
    k, a = fit_power_law(xs, [3.0 * x ** 2.5 for x in xs])
    assert k == pytest.approx(2.5, abs=1e-12) and a == pytest.approx(3.0, rel=1e-12)
    with pytest.raises(ValueError):
        fit_power_law([1], [1])


def _fully_conv():
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Conv2d(8, 8, 3, stride=2, padding=1), torch.nn.Conv2d(8, 4, 1))


def test_fully_convolutional_macs_grow_exactly_quadratically():
    study = layerscope.scale(_fully_conv(), [16, 32, 64, 128])
    # every conv's MACs = H_out*W_out*C_out*C_in*k*k with H_out proportional to r (r divisible by 2)
    per_r2 = (8 * 27 + 8 * 72 / 4 + 4 * 8 / 4)  # MACs per input pixel: conv1 full res, conv2/3 at r/2
    assert list(study.table["macs"]) == [int(per_r2 * r * r) for r in (16, 32, 64, 128)]
    assert study.exponent("macs") == pytest.approx(2.0, abs=1e-9)
    assert study.exponent("activation_bytes") == pytest.approx(2.0, abs=1e-9)


def test_resnet_exponent_matches_fvcore_oracle():
    import torchvision
    from fvcore.nn import FlopCountAnalysis

    resolutions = [128, 160, 224, 320]
    model = torchvision.models.resnet18()
    oracle = []
    for r in resolutions:
        counter = FlopCountAnalysis(model.eval(), torch.zeros(1, 3, r, r))
        counter.unsupported_ops_warnings(False)
        counter.uncalled_modules_warnings(False)
        ops = counter.by_operator()
        # fvcore counts one "flop" per MAC for conv and linear (it also counts BN/pooling: left out here)
        oracle.append(ops["conv"] + ops["linear"])
    k_oracle, _ = fit_power_law(resolutions, oracle)
    study = layerscope.scale(model, resolutions)
    assert list(study.table["macs"]) == oracle
    assert study.exponent() == pytest.approx(k_oracle, abs=1e-9)
    # a CNN is ~2; the resolution-independent fc layer (512*1000 MACs) pulls it a little below
    assert 1.9 < study.exponent() < 2.0
    ax = study.plot()
    assert [list(line.get_ydata()) for line in ax.get_lines()][0] == [float(v) for v in oracle]
    assert f"resolution^{study.exponent():.2f}" in study.to_markdown()


# ---------------------------------------------------------------------------------------------- compound
@pytest.mark.slow
def test_efficientnet_compound_scaling_against_published_gmacs():
    from torchvision.models import get_model_weights

    family = efficientnet_family()
    study = compound_scaling(family)
    df = study.table
    for row in df.itertuples():
        weights = get_model_weights(row.model).DEFAULT
        assert row.resolution == weights.transforms().crop_size[0]
        assert row.params == weights.meta["num_params"]
        assert abs(row.macs / 1e9 - weights.meta["_ops"]) < 0.0006  # published GMACs, 3 decimals
    steps = df.iloc[1:]
    for prev, cur in zip(df.itertuples(), steps.itertuples()):
        assert cur.measured_ratio == pytest.approx(cur.macs / prev.macs)
        rule = (cur.depth / prev.depth) * (cur.width / prev.width) ** 2 * (cur.resolution / prev.resolution) ** 2
        assert cur.predicted_ratio == pytest.approx(rule)
    # over the whole family the rule holds to within the rounding of channels and depths: B0 -> B7
    total_measured = df["macs"].iloc[-1] / df["macs"].iloc[0]
    total_rule = math.prod(steps["predicted_ratio"])
    assert 0.7 < total_measured / total_rule < 1.5
    ax = study.plot()
    assert len(ax.patches) == 2 * len(steps)


# ---------------------------------------------------------------------------------------------- sweeps
def build_net(width, blocks, stride=1):
    """Module-level (picklable) builder for the process-pool and Dask sweeps."""
    if width <= 0:
        raise ValueError("width must be positive")
    layers = [torch.nn.Conv2d(3, width, 3, padding=1, stride=stride)]
    layers += [torch.nn.Conv2d(width, width, 3, padding=1) for _ in range(blocks - 1)]
    # a head built for stride 2 on 32x32 inputs: stride 1 is a shape bug (LS102)
    layers += [torch.nn.Flatten(), torch.nn.Linear(width * 16 * 16, 10)]
    return torch.nn.Sequential(*layers)


SPACE = {"width": [4, 8, -1], "blocks": [1, 2], "stride": [1, 2]}


def _expected_params(width, blocks):
    # first conv 3->w 3x3 + bias; (blocks-1) w->w 3x3 convs + bias; linear w*16*16 -> 10
    return (width * 27 + width) + (blocks - 1) * (width * width * 9 + width) + (width * 256 * 10 + 10)


def _check_sweep(df):
    assert len(df) == 12 and list(df.columns[:3]) == ["width", "blocks", "stride"]
    ok = df[df["status"] == "complete"]
    assert set(zip(ok["width"], ok["blocks"], ok["stride"])) == {(w, b, 2) for w in (4, 8) for b in (1, 2)}
    for row in ok.itertuples():
        assert row.params == _expected_params(row.width, row.blocks)
        assert row.weight_layers == row.blocks + 1
    bad_build = df[df["width"] == -1]
    assert (bad_build["status"] == "failed").all() and (bad_build["error_code"] == "LS924").all()
    shape_bug = df[(df["width"] > 0) & (df["stride"] == 1)]
    assert (shape_bug["status"] == "failed").all() and (shape_bug["error_code"] == "LS102").all()
    # oracle for the frontier: brute force over successful rows (min params, min MACs, max RF)
    rows = list(ok.itertuples())
    for r in rows:
        dominated = any(o is not r and o.params <= r.params and o.macs <= r.macs and o.rf >= r.rf and
                        (o.params < r.params or o.macs < r.macs or o.rf > r.rf) for o in rows)
        assert bool(df.loc[r.Index, "pareto"]) == (not dominated)
    assert not df[df["status"] == "failed"]["pareto"].any()


def test_sweep_serial_and_default_process_pool():
    serial = layerscope.sweep(build_net, SPACE, input_size=32, executor=False)
    _check_sweep(serial)
    pooled = layerscope.sweep(build_net, SPACE, input_size=32)  # default: 2-process pool
    assert pooled.equals(serial)


def test_sweep_on_a_local_dask_cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        df = layerscope.sweep(build_net, list(configurations(SPACE)), input_size=32,
                              executor=client.get_executor())
    _check_sweep(df)


def test_sweep_unpicklable_build_is_a_failed_row_not_a_crash():
    df = layerscope.sweep(lambda width: torch.nn.Conv2d(3, width, 3), {"width": [4]}, input_size=8)
    assert list(df["status"]) == ["failed"] and df["error_code"][0] == "LS974"  # its own code (W5)
    assert "module-level function" in df["error"][0]


def test_sweep_rejects_clashing_keys():
    with pytest.raises(layerscope.ConfigError):
        layerscope.sweep(build_net, {"params": [1]}, input_size=8, executor=False)


def test_cli_scale(tmp_path):
    out = tmp_path / "s.md"
    res = subprocess.run([sys.executable, "-m", "layerscope", "scale", "examples/downsampling.py:strided_conv_net",
                          "--resolution", "64", "128", "224", "-o", str(out)], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr
    md = out.read_text()
    assert "| 224 |" in md and "MACs ~ resolution^" in md
    assert (tmp_path / "s_scaling.png").exists()
