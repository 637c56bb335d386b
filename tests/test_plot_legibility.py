"""P1: plots a reader can read. Text boxes are measured with the Agg renderer on the real figures (DenseNet-121,
ResNet-18 and a compare of the models whose labels collided), so a layout change that makes labels overlap,
sit on a curve or leave the axes fails here, whatever the model."""

import itertools

import matplotlib
import pytest

matplotlib.use("Agg")

import layerscope  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

from layerscope.render.plots import DPI, report_figure  # noqa: E402

PARETO_MODELS = ["regnet_y_400mf", "efficientnet_b0", "resnet50", "convnext_tiny", "resnet18", "densenet121"]


@pytest.fixture(scope="module")
def reports():
    from layerscope.loading import load_model

    return {n: layerscope.analyze(load_model(f"torchvision:{n}"), input_size=224) for n in PARETO_MODELS}


def _drawn(fig, dpi=DPI):
    """Draw ``fig`` as saved (Agg, the PNG's dpi) and return its renderer."""
    fig.set_dpi(dpi)
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _overlap(a, b):
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _segment_hits(p, q, box, steps=200):
    return any(box.contains(p[0] + (q[0] - p[0]) * t / steps, p[1] + (q[1] - p[1]) * t / steps)
               for t in range(steps + 1))


@pytest.mark.parametrize("model", ["densenet121", "resnet18"])
def test_P1_rf_plot_tick_labels_do_not_overlap(reports, model):
    fig = report_figure(reports[model], "receptive_field")
    renderer = _drawn(fig)
    ax = fig.axes[0]
    labels = [t for t in ax.get_xticklabels() if t.get_text()]
    assert len(labels) >= 3  # stage boundaries are labelled
    if model == "densenet121":
        assert {t.get_text() for t in labels} >= {"features.transition1.pool", "features.transition2.pool"}
    for a, b in itertools.combinations(labels, 2):
        ba, bb = a.get_window_extent(renderer), b.get_window_extent(renderer)
        assert not _overlap(ba, bb), f"{a.get_text()!r} and {b.get_text()!r} print over each other"


@pytest.mark.parametrize("model", ["resnet18", "densenet121"])
def test_P1_rf_plot_exceeds_label_clear_of_the_curve(reports, model):
    fig = report_figure(reports[model], "receptive_field")
    renderer = _drawn(fig)
    ax = fig.axes[0]
    notes = [t for t in ax.texts if t.get_text().startswith("exceeds input")]
    assert len(notes) == 1
    box = notes[0].get_window_extent(renderer)
    frame = ax.get_window_extent(renderer)
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    assert not _overlap(box, ax.get_legend().get_window_extent(renderer))
    for line in ax.get_lines():  # the field and jump curves, the input-size and marker lines
        pts = line.get_transform().transform(line.get_xydata())
        for p, q in zip(pts, pts[1:]):
            assert not _segment_hits(p, q, box), f"the note sits on {line.get_label()!r}"


@pytest.fixture(scope="module")
def pareto(reports):
    cmp = layerscope.compare([reports[n] for n in PARETO_MODELS], names=PARETO_MODELS)
    ax = cmp.plot()
    return cmp, ax, _drawn(ax.figure)


def test_P1_pareto_labels_do_not_overlap(pareto):
    _, ax, renderer = pareto
    labels = [t for t in ax.texts if t.get_text()]
    assert sorted(t.get_text() for t in labels) == sorted(PARETO_MODELS)
    boxes = {t.get_text(): t.get_window_extent(renderer) for t in labels}
    for (a, ba), (b, bb) in itertools.combinations(boxes.items(), 2):
        assert not _overlap(ba, bb), f"labels {a} and {b} overlap"
    frame = ax.get_window_extent(renderer)
    legend = ax.get_legend().get_window_extent(renderer)
    centres = ax.transData.transform(ax.collections[0].get_offsets())
    for name, box in boxes.items():
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, name
        assert not _overlap(box, legend), name
        for x, y in centres:  # no label covers a point (its own included)
            assert not box.contains(x, y), name


def test_P1_pareto_alt_text_is_the_title(pareto):
    cmp, ax, _ = pareto
    md = cmp.to_markdown(plot="p.png")
    assert f"![{ax.get_title()}](p.png)" in md
    assert ax.get_title().startswith("MACs against parameters")


def test_P1_densenet_graph_in_markdown_is_legible_and_points_to_html(reports, tmp_path):
    from PIL import Image

    from layerscope.render.files import write_report

    report = reports["densenet121"]
    cmd = "layerscope analyze torchvision:densenet121 --input-size 224 -o d.md"
    written = write_report(report, str(tmp_path / "d.md"), command=cmd)
    md = (tmp_path / "d.md").read_text()
    # the caption is honest about what the picture leaves out and gives the exact command for every layer
    assert "Drawn as **blocks at module depth 2**" in md and "129 boxes" in md
    assert "`layerscope analyze torchvision:densenet121 --input-size 224 -o d.html`" in md
    png = tmp_path / "d_graph.png"
    assert str(png) in written
    w, h = Image.open(png).size
    assert h <= 3200, (w, h)  # a few screens, not 4317 px

    from layerscope.render.graph_plot import plan_layer_graph
    from layerscope.render.plots import layer_graph_figure

    fig = layer_graph_figure(report, plan_layer_graph(report, 2))
    renderer = _drawn(fig)
    ax = fig.axes[0]
    boxes = [t for t in ax.texts if t.get_text()]
    heights = [t.get_window_extent(renderer).height / (t.get_text().count("\n") + 1) for t in boxes]
    assert min(heights) >= 7, min(heights)  # px per line of text at the PNG's dpi (main: about 5)
    for a, b in itertools.combinations(boxes, 2):
        assert not _overlap(a.get_window_extent(renderer), b.get_window_extent(renderer))
    red = matplotlib.colors.to_rgb("tab:red")
    edges = [t.arrow_patch for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    assert len(edges) >= 16  # 17 blocks in a chain
    skips = [e for e in edges if tuple(e.get_edgecolor()[:3]) == red]
    assert len(skips) <= 4  # no wall of red skip edges (main draws 168 past one row)
    names = {t.get_text().split("\n")[0] for t in boxes}
    assert {"features.denseblock1", "features.transition3", "classifier"} <= names


def test_P1_resnet18_graph_stays_per_layer(reports):
    from layerscope.render.graph_plot import plan_layer_graph
    from layerscope.render.markdown import graph_caption

    plan = plan_layer_graph(reports["resnet18"], 2)
    # the ResNet-18 graph is clear: every residual block drawn, no caption
    assert plan.view == "layers" and plan.depth == 2 and plan.nodes == plan.full_nodes
    assert graph_caption(reports["resnet18"], 2) == ""


def test_P1_regenerate_command_keeps_graph_depth(tmp_path, monkeypatch):
    # the HTML command a coarse graph's caption gives is the report's own command: it must keep --graph-depth
    from layerscope.cli import main

    import os

    monkeypatch.chdir(tmp_path)
    spec = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "downsampling.py")
    assert main(["analyze", f"{spec}:strided_conv_net", "-s", "64", "--graph-depth", "3", "--top-k", "5",
                 "--no-plots", "-o", "r.md"]) == 0
    header = (tmp_path / "r.md").read_text().splitlines()[2]
    assert "--graph-depth 3 --top-k 5 -o r.md" in header


@pytest.mark.parametrize("batch", [1, 16, 64])  # the peak in the step (model states), then in backward
def test_training_memory_plot_labels_are_inside_and_apart(batch):
    # the peak label and the phase names inside the axes, the legend below them; none over another, none on
    # the stack
    import torchvision

    from layerscope.render.training import plot_training_memory

    cost = layerscope.training_cost(torchvision.models.resnet18(), input_size=64, batch_size=batch)
    ax = plot_training_memory(cost)
    renderer = _drawn(ax.figure)
    frame = ax.get_window_extent(renderer)
    texts = [t for t in ax.texts if t.get_text()]
    phases = [t for t in texts if t.get_text() in ("forward", "backward", "step")]
    assert [t.get_text() for t in phases] == ["forward", "backward", "step"]
    boxes = [t.get_window_extent(renderer) for t in texts]
    for box in boxes:
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    legend = ax.get_legend().get_window_extent(renderer)
    figure = ax.figure.bbox
    assert legend.y1 <= frame.y0 and figure.y0 <= legend.y0  # below the axes, on the figure
    for label in ax.get_xticklabels() + [ax.xaxis.label]:
        if label.get_text():
            assert not _overlap(label.get_window_extent(renderer), legend)
    for a, b in itertools.combinations(boxes + [legend], 2):
        assert not _overlap(a, b)
    # everything written sits above the highest live bytes of the step
    top = ax.transData.transform((0, cost.peak_bytes / 2**20))[1]
    assert all(box.y0 >= top for box in boxes)
