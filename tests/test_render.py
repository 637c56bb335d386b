"""Reports: grouped tables, markdown/HTML/CSV, and plots checked headless for the files they write and the data
they draw. Expected numbers are arithmetic from the architecture (comments) or PyTorch/torchvision facts."""

import os
import subprocess
import sys

import matplotlib
import pytest

matplotlib.use("Agg")

import layerscope  # noqa: E402
from layerscope.render.files import layer_csv, render_report, write_report  # noqa: E402
from layerscope.render.graph_plot import collapse_graph, plot_layer_graph  # noqa: E402
from layerscope.render.markdown import layer_table_markdown, report_markdown  # noqa: E402
from layerscope.render.plots import (pareto_mask, plot_shapes, plot_top_layers, shape_progression,  # noqa: E402
                                     write_report_plots)
from layerscope.render.table import grouped_rows, relative_source, top_layers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "tests", "golden")
UPDATE = os.environ.get("LAYERSCOPE_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def r18():
    from examples.resnet import resnet18

    return layerscope.analyze(resnet18(), input_size=224)


@pytest.fixture(scope="module")
def r50():
    from examples.resnet import resnet50

    return layerscope.analyze(resnet50(), input_size=224)


def test_grouped_rows_fold_children_into_their_parent(r18):
    rows = grouped_rows(r18, 1)
    by_name = {r["name"]: r for r in rows}
    # layer1 = two BasicBlocks of two 3x3 64->64 convs at 56x56: 4 * (56*56*64) * (64*3*3) MACs
    assert by_name["layer1"]["macs"] == 4 * (56 * 56 * 64) * (64 * 3 * 3)
    # ... and 4 convs of 64*64*9 weights + 4 BNs of 2*64
    assert by_name["layer1"]["params"] == 4 * 64 * 64 * 9 + 4 * 2 * 64
    assert by_name["layer4"]["output_shape"] == (1, 512, 7, 7)  # 224 / 32
    assert by_name["layer2"]["input_shape"] == (1, 64, 56, 56)
    # every layer is counted exactly once: the sums are the published totals (torchvision resnet18 meta)
    assert sum(r["params"] for r in rows) == 11_689_512
    assert sum(r["macs"] for r in rows) == r18.total_macs
    assert not any(r["name"].startswith("layer1.") for r in rows)


def test_grouped_rows_headers_nest_blocks_under_stages(r18):
    rows = grouped_rows(r18, 2)
    names = [r["name"] for r in rows]
    i = names.index("layer3")
    assert rows[i]["kind"] == "group" and names[i + 1:i + 3] == ["layer3.0", "layer3.1"]
    # header rows repeat their children's totals; leaves + folded rows still sum to the model
    assert rows[i]["params"] == rows[i + 1]["params"] + rows[i + 2]["params"]
    assert sum(r["params"] for r in rows if r["kind"] != "group") == 11_689_512
    assert len(grouped_rows(r18, None)) == len(r18.nodes)


def test_markdown_report_has_summary_convention_table_and_diagnostics(r18):
    md = report_markdown(r18, max_depth=2, root=ROOT)
    assert md.startswith("# ResNet\n")
    assert "| parameters | 11,689,512 (11.69M): trainable 11,689,512, frozen 0 |" in md
    assert "> **Convention.** MACs count multiply-accumulates" in md
    assert "## Layers (grouped to module depth 2)" in md
    assert "| **`layer1`** | **Sequential** |" in md
    assert "## Diagnostics" in md and "## Where the cost is" in md
    assert ROOT not in md  # no absolute paths: the report reads the same on any machine
    # conv1: 112*112*64 outputs * 3*7*7 MACs each
    assert f"| `conv1` | Conv2d | 1x64x112x112 | {112 * 112 * 64 * 3 * 49:,} |" in md
    assert report_markdown(r18, max_depth=2, root=ROOT) == md  # deterministic


def test_layer_table_keeps_its_public_name(r18):
    table = layer_table_markdown(r18, max_depth=1)
    assert table.splitlines()[0].startswith("| layer | type | input | output | params | MACs |")
    assert len(table.splitlines()) == 2 + len(grouped_rows(r18, 1))


def test_diagnostics_rendered_with_hints():
    from examples.buggy import BUG_CASES

    case = BUG_CASES["LinearHeadExpects7x7"]
    rep = layerscope.analyze(case.model(), input_size=case.bad_input)
    assert not rep.ok
    md = report_markdown(rep, root=ROOT)
    assert any(f"**{d.code}** {d.severity}" in md for d in rep.errors)
    assert "  - hint: " in md
    assert "0 errors" not in md
    # the catalogue's code for a linear layer fed the wrong number of features, named up front
    assert "> **1 shape error.** First: **LS102** at `classifier`" in md


def test_relative_source():
    assert relative_source("/repo/examples/resnet.py:116", "/repo") == "examples/resnet.py:116"
    assert relative_source("/elsewhere/lib/x.py:3", "/repo") == "x.py:3"
    assert relative_source(None, "/repo") is None
    assert relative_source("/usr/lib/python3/site-packages/torchvision/models/resnet.py:150", "/repo") == \
        "torchvision/models/resnet.py:150"


def test_csv_matches_golden():
    from examples.downsampling import strided_conv_net

    rep = layerscope.analyze(strided_conv_net(), input_size=224)
    text = layer_csv(rep, root=ROOT)
    path = os.path.join(GOLDEN, "strided_conv_net.csv")
    if UPDATE:
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    with open(path, encoding="utf-8") as fh:
        assert text == fh.read(), "rerun with LAYERSCOPE_UPDATE_GOLDEN=1 if the change is intended"
    lines = text.splitlines()
    assert lines[0].startswith("name,type,kind,depth,input_shape,output_shape,params,macs")
    # first stage: 3x3 stride-2 conv 3->32 on 224: (224 + 2*1 - 3)//2 + 1 = 112
    assert ",1x3x224x224,1x32x112x112," in lines[1]


def test_csv_grouped_has_layers_column(r18):
    text = layer_csv(r18, max_depth=1, root=ROOT)
    header = text.splitlines()[0].split(",")
    assert header[-1] == "layers"
    assert any(line.startswith("layer1,Sequential,scope,1,") for line in text.splitlines())


def test_shape_progression_is_the_downsampling_schedule(r18):
    prog = shape_progression(r18)
    sizes = []
    for p in prog:
        if not sizes or sizes[-1] != p["spatial"]:
            sizes.append(p["spatial"])
    # stem conv /2, maxpool /2, stages 2-4 /2 each, global pool -> 1
    assert sizes == [112, 56, 28, 14, 7, 1]
    ax = plot_shapes(r18)
    spatial_line = ax.get_lines()[0]
    assert list(spatial_line.get_ydata()) == [224] + [p["spatial"] for p in prog]
    assert list(ax.figure.axes[1].get_lines()[0].get_ydata())[-1] == 512


def test_top_layers_plot_draws_the_table_values(r18):
    top = top_layers(r18, "macs", 5)
    # conv1 is the largest single layer: 112*112*64 * 3*7*7 = 118,013,952 > 56*56*64 * 64*3*3 = 115,605,504
    assert top[0]["name"] == "conv1" and top[0]["macs"] == 112 * 112 * 64 * 3 * 49
    ax = plot_top_layers(r18, "macs", 5)
    widths = [p.get_width() for p in ax.patches]
    assert widths == [r["macs"] for r in top][::-1]
    assert [t.get_text() for t in ax.get_yticklabels()] == [r["name"] for r in top][::-1]


def test_layer_graph_collapsed_keeps_residual_merges(r50):
    import networkx as nx

    g = collapse_graph(r50, depth=2)
    assert nx.is_directed_acyclic_graph(g)
    merges = [n for n, d in g.nodes(data=True) if d["merge"]]
    # ResNet-50 has 3 + 4 + 6 + 3 = 16 bottleneck blocks, one residual add each
    assert len(merges) == 16
    assert g.number_of_nodes() < 80 < len(r50.nodes)  # readable, unlike the 180-node full graph
    members = sorted(m for _, d in g.nodes(data=True) for m in d["members"])
    assert members == [n.id for n in r50.layer_graph.nodes]  # a partition of the original nodes
    ax = plot_layer_graph(r50, depth=2)
    boxes = [t for t in ax.texts if t.get_bbox_patch() is not None]
    assert len(boxes) == g.number_of_nodes()


def test_write_report_writes_linked_pngs_without_metadata(r18, tmp_path):
    paths = write_report(r18, str(tmp_path / "r18.md"), root=ROOT)
    md = (tmp_path / "r18.md").read_text()
    assert paths[0].endswith("r18.md") and len(paths) >= 4
    for p in paths[1:]:
        data = open(p, "rb").read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"matplotlib" not in data  # no Software chunk: files do not depend on the library version
        assert f"]({os.path.basename(p)})" in md


def test_write_report_plots_subset(r18, tmp_path):
    written = write_report_plots(r18, str(tmp_path), "x", which=["shapes"])
    assert written == {"shapes": "x_shapes.png"} and (tmp_path / "x_shapes.png").exists()


def test_html_and_json_formats(r18):
    page = render_report(r18, "html", plots={}, root=ROOT)  # no plots: the self-contained page is tested elsewhere
    assert page.startswith("<!DOCTYPE html>") and "<img" not in page and "11,689,512" in page
    back = layerscope.Report.from_json(render_report(r18, "json"))
    assert back.total_macs == r18.total_macs
    assert "<table>" in r18._repr_html_()


def test_pareto_mask():
    pts = [(1, 5), (2, 2), (3, 3), (5, 1), (2, 2)]
    # (3, 3) is dominated by (2, 2); equal points do not dominate each other
    assert pareto_mask(pts) == [True, True, False, True, True]
    assert pareto_mask([(1, 1, 10), (1, 1, 20)], maximize=[False, False, True]) == [False, True]
    assert pareto_mask([(1, None), (2, None)]) == [True, False]  # an all-None objective is ignored


def _run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "layerscope", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_cli_analyze_writes_markdown_report_with_plots(tmp_path):
    out = tmp_path / "r.md"
    res = _run("analyze", "examples/downsampling.py:conv_maxpool_net", "--input-size", "224", "--depth", "1",
               "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout and "r_shapes.png" in res.stdout
    md = out.read_text()
    assert md.startswith("# examples/downsampling.py:conv_maxpool_net\n")
    assert "(r_graph.png)" in md and (tmp_path / "r_graph.png").exists()


def test_cli_analyze_text_depth_and_csv(capsys, monkeypatch):
    from layerscope.cli import main  # in-process: the markdown test above is analyze's one subprocess

    monkeypatch.chdir(ROOT)
    assert main(["analyze", "examples/resnet.py:resnet18", "--input-size", "224", "--depth", "1"]) == 0
    assert any(line.startswith("layer1 ") and "16 layers" in line for line in capsys.readouterr().out.splitlines())



def test_cli_main_csv_in_process(capsys, monkeypatch):
    from layerscope.cli import main

    monkeypatch.chdir(ROOT)
    assert main(["analyze", "examples/downsampling.py:strided_conv_net", "-s", "224", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("name,type,kind,depth")


def test_cost_breakdown_depth_follows_the_model_structure(r18):
    import torchvision

    from layerscope.render.markdown import breakdown_depth, modules_cost_markdown

    assert breakdown_depth(r18) == 1  # stem conv/bn, layer1..4, fc: already 7 costed rows
    model = torchvision.models.efficientnet_b0()
    rep = layerscope.analyze(model, input_size=224)
    # torchvision's EfficientNet keeps every stage inside `features`: the breakdown goes one level down
    assert breakdown_depth(rep) == 2
    table = modules_cost_markdown(rep, 2)
    assert [f"`features.{i}`" in table for i in range(len(model.features))] == [True] * len(model.features)
