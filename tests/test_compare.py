"""compare() and diff(): values against torchvision's published figures and hand arithmetic; the scatter draws
exactly the table's values; CLI commands end to end."""

import json
import os
import subprocess
import sys

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

import layerscope  # noqa: E402
from layerscope.compare import Comparison, weight_depth  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = ["resnet18", "resnet50", "vgg16", "densenet121"]


@pytest.fixture(scope="module")
def cmp() -> Comparison:
    return layerscope.compare([f"torchvision:{n}" for n in NAMES], input_size=224)


def test_compare_table_matches_published_figures(cmp):
    from torchvision.models import get_model_weights

    df = cmp.table
    assert list(df["model"]) == NAMES
    for name, row in zip(NAMES, df.itertuples()):
        meta = get_model_weights(name).DEFAULT.meta
        assert row.params == meta["num_params"]
        assert row.params_M == round(meta["num_params"] / 1e6, 1)
        # torchvision publishes GMACs ("_ops") with 3 decimals
        assert abs(row.macs / 1e9 - meta["_ops"]) < 0.0006
        assert row.macs_G == round(row.macs / 1e9, 2)
        assert row.flops >= 2 * row.macs
        assert row.status == "complete"


def test_depth_is_the_number_in_the_name(cmp):
    # weight layers on the longest path: ResNet-18/50, VGG-16 and DenseNet-121 by their names
    assert list(cmp.table["depth"]) == [18, 50, 16, 121]


def test_weight_depth_ignores_parallel_projection():
    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Conv2d(8, 8, 3, padding=1)
            self.proj = torch.nn.Conv2d(3, 8, 1)

        def forward(self, x):
            return self.b(self.a(x)) + self.proj(x)

    assert weight_depth(layerscope.analyze(Block(), input_size=16)) == 2


def test_scatter_points_are_the_table_values(cmp):
    ax = cmp.plot()
    points = ax.collections[0].get_offsets()
    assert [tuple(p) for p in points.tolist()] == [(float(p), float(m)) for p, m in
                                                   zip(cmp.table["params"], cmp.table["macs"])]
    # frontier: resnet18 (fewest MACs) and densenet121 (fewest params); resnet50 and vgg16 are dominated
    assert cmp.pareto() == [True, False, False, True]
    ringed = ax.collections[1].get_offsets().tolist()
    assert sorted(map(tuple, ringed)) == sorted((float(r.params), float(r.macs)) for r, on in
                                                zip(cmp.table.itertuples(), cmp.pareto()) if on)


def test_compare_markdown(cmp):
    md = cmp.to_markdown(plot="p.png")
    assert "| **resnet18** | 1x3x224x224 | 11.7 | 1.81 |" in md
    assert "| vgg16 | 1x3x224x224 | 138.4 | 15.47 |" in md
    # the alt text is the plot's title (MACs on y against parameters on x), not a second wording of it
    assert md.rstrip().endswith(f"![{cmp.plot().get_title()}](p.png)")
    assert md.rstrip().endswith("![MACs against parameters (Pareto frontier: lower is better)](p.png)")


def test_compare_accepts_reports_and_modules(capfd):
    a = torch.nn.Conv2d(3, 8, 3)
    rep = layerscope.analyze(torch.nn.Conv2d(3, 4, 1), input_size=8)
    c = layerscope.compare([a, rep, a, a, a], input_size=8, names=["a", "b", "c", "d", "e"])
    assert capfd.readouterr() == ("", "")  # the library is silent: progress bars are the CLI's
    # a: 8*3*3*3 + 8 = 224 params; b: 4*3 + 4 = 16
    assert list(c.table["params"]) == [224, 16, 224, 224, 224]
    with pytest.raises(layerscope.ConfigError):
        layerscope.compare([a], names=["x", "y"])


def _two_versions():
    a = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3))
    b = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3), torch.nn.ReLU(), torch.nn.Conv2d(16, 8, 3, padding=1),
                            torch.nn.Conv2d(8, 4, 1))
    return a, b


def test_diff_layers_and_totals():
    a, b = _two_versions()
    d = layerscope.diff(a, b, input_size=12)
    ch = {c.name: c for c in d.layers}
    assert [c.change for c in d.layers] == ["changed", "changed", "changed", "added"]
    # conv 0: 3->8 vs 3->16 3x3 on 12x12 -> 10x10: params 16*27+16 - (8*27+8)
    assert ch["0"].params_delta == (16 * 27 + 16) - (8 * 27 + 8)
    assert ch["0"].macs_delta == 10 * 10 * 27 * (16 - 8)
    assert ch["2"].shape_a == (1, 8, 8, 8) and ch["2"].shape_b == (1, 8, 10, 10)
    assert ch["3"].params_b == 8 * 4 + 4
    totals = {m: (x, y) for m, x, y in d.totals}
    assert totals["total_params"] == (sum(p.numel() for p in a.parameters()), sum(p.numel() for p in b.parameters()))
    assert d.counts == {"added": 1, "removed": 0, "changed": 3, "same": 0}
    back = layerscope.diff(b, a, input_size=12)
    assert [c.change for c in back.changes][-1] == "removed"
    assert "| `3` | added | Conv2d | - | 1x4x10x10 | +36 |" in d.to_markdown()


def test_diff_of_identical_models_is_empty():
    a, _ = _two_versions()
    d = layerscope.diff(a, a, input_size=12)
    assert d.changes == [] and all(x == y for _, x, y in d.totals)


def _run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "layerscope", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.mark.slow
def test_cli_compare_with_progress_and_plot(tmp_path):
    out = tmp_path / "cmp.md"
    specs = ["examples/downsampling.py:strided_conv_net", "examples/downsampling.py:conv_maxpool_net",
             "examples/downsampling.py:conv_avgpool_net", "examples/resnet.py:resnet18"]
    res = _run("compare", *specs, "--input-size", "224", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "4/4 resnet18" in res.stderr  # progress bar for more than 3 models
    md = out.read_text()
    assert "| strided_conv_net |" in md or "| **strided_conv_net** |" in md
    assert (tmp_path / "cmp_pareto.png").exists()


def test_cli_compare_one_model_csv_without_progress(capsys, monkeypatch):
    from layerscope.cli import main

    monkeypatch.chdir(ROOT)
    assert main(["compare", "examples/downsampling.py:strided_conv_net", "-s", "224", "--format", "csv"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("model,params_M,macs_G") and out.err == ""  # one model: no progress bar


def test_cli_diff_spec_against_saved_json(tmp_path):
    from examples.downsampling import strided_conv_net

    saved = tmp_path / "a.json"  # what `layerscope analyze ... -o a.json` writes
    saved.write_text(layerscope.analyze(strided_conv_net(), input_size=224).to_json())
    res = _run("diff", str(saved), "examples/downsampling.py:conv_maxpool_net", "-s", "224", "--format", "json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    totals = {t["metric"]: t for t in data["totals"]}
    assert totals["total_params"]["delta"] == 0  # pooling has no parameters (examples/downsampling.py)
    assert totals["total_macs"]["delta"] > 0
    assert data["counts"]["added"] >= 4  # one pooling layer per stage


def test_cli_diff_spec_needs_an_input_size(capsys, monkeypatch):
    from layerscope.cli import main

    monkeypatch.chdir(ROOT)
    spec = "examples/downsampling.py:strided_conv_net"
    assert main(["diff", spec, spec]) == 2
    assert "LS966" in capsys.readouterr().err  # a SPEC needs an input size
