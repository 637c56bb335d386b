"""The committed reports in reports/ never go stale: regenerate one and compare byte for byte.

To accept an intended change: ``LAYERSCOPE_UPDATE_GOLDEN=1 python -m pytest tests/test_reports_golden.py`` (and
``python scripts/make_reports.py`` for all the other reports). PNGs are checked for existence and links only:
their pixels depend on the matplotlib and freetype versions.
"""

import importlib.util
import os
import shutil
import sys

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPDATE = os.environ.get("LAYERSCOPE_UPDATE_GOLDEN") == "1"


def _make_reports_module():
    spec = importlib.util.spec_from_file_location("make_reports", os.path.join(ROOT, "scripts", "make_reports.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", ["resnet18", "resnet18_training"])
def test_committed_report_is_up_to_date(name, tmp_path, monkeypatch):
    mk = _make_reports_module()
    entry = next(e for e in mk.ENTRIES if e.name == name)
    # generate exactly as scripts/make_reports.py does (the CLI, run from the repository root), into a
    # scratch folder inside the repository so the relative paths have the same depth
    scratch = os.path.join(ROOT, "reports", f".golden-{os.getpid()}")
    monkeypatch.chdir(ROOT)
    try:
        from layerscope.cli import main

        rc = main(mk.analyze_argv(entry, out_dir=os.path.relpath(scratch, ROOT)))
        assert rc == 0
        with open(os.path.join(scratch, f"{name}.md"), encoding="utf-8") as fh:
            fresh = fh.read()
        # the report names the command that made it; the scratch folder stands in for reports/
        fresh = fresh.replace(os.path.relpath(scratch, ROOT) + "/", "reports/")
        pngs = sorted(f for f in os.listdir(scratch) if f.endswith(".png"))
        committed_path = os.path.join(ROOT, "reports", f"{name}.md")
        if UPDATE:
            with open(committed_path, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(fresh)
            for f in pngs:
                shutil.copy(os.path.join(scratch, f), os.path.join(ROOT, "reports", f))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    with open(committed_path, encoding="utf-8") as fh:
        committed = fh.read()
    assert fresh == committed, (
        f"reports/{name}.md is stale: run `python scripts/make_reports.py` (or LAYERSCOPE_UPDATE_GOLDEN=1 pytest "
        f"{os.path.relpath(__file__, ROOT)}) and commit the result")
    for f in pngs:
        assert f"]({f})" in committed and os.path.exists(os.path.join(ROOT, "reports", f))
    # shapes, receptive field, top layers, graph (and the training step's memory timeline)
    assert len(pngs) == (5 if "--train" in entry.options else 4)


@pytest.mark.slow
def test_every_committed_report_is_up_to_date():
    """All single-model reports, rendered in-process (plots are not redrawn: their file names are taken from
    reports/, which test_committed_report_is_up_to_date checks the CLI writes)."""
    import layerscope
    from layerscope.loading import load_model
    from layerscope.render.files import render_report
    from layerscope.render.plots import REPORT_PLOTS

    mk = _make_reports_module()
    stale = []
    for e in mk.ENTRIES:
        if e.options:  # the training example: test_committed_report_is_up_to_date runs its command
            continue
        report = layerscope.analyze(load_model(e.spec if e.spec.startswith("torchvision:") else
                                               os.path.join(ROOT, e.spec)), input_size=int(e.input_size))
        plots = {key: f"{e.name}_{suffix}.png" for key, (suffix, _) in REPORT_PLOTS.items()
                 if os.path.exists(os.path.join(ROOT, "reports", f"{e.name}_{suffix}.png"))}
        command = "layerscope " + " ".join(mk.analyze_argv(e))
        fresh = render_report(report, "md", plots=plots, root=ROOT, title=e.spec, command=command)
        with open(os.path.join(ROOT, "reports", f"{e.name}.md"), encoding="utf-8") as fh:
            if fh.read() != fresh:
                stale.append(e.name)
    assert stale == [], f"stale reports {stale}: run python scripts/make_reports.py and commit reports/"


@pytest.mark.parametrize("name", ["torchvision_resnet50", "torchvision_densenet121"])
def test_committed_html_report_is_up_to_date(name):
    """reports/NAME.html, rendered in-process without its inline SVG plots (their bytes depend on the matplotlib
    version) and compared with the committed page less its plots section."""
    import re

    import layerscope
    from layerscope.loading import load_model
    from layerscope.render.files import render_report

    mk = _make_reports_module()
    assert name in mk.HTML_ENTRIES
    e = next(e for e in mk.ENTRIES if e.name == name)
    report = layerscope.analyze(load_model(e.spec), input_size=int(e.input_size))
    command = "layerscope " + " ".join(mk.analyze_argv(e, ext="html"))
    fresh = render_report(report, "html", plots={}, root=ROOT, title=e.spec, command=command)
    path = os.path.join(ROOT, "reports", f"{name}.html")
    with open(path, encoding="utf-8") as fh:
        committed = fh.read()
    assert re.findall(r'<figure id="plot-(\w+)">', committed) == ["shapes", "receptive_field", "top_layers"]
    assert f"Generated by <code>{command}</code>" in committed
    without_plots = re.sub(r'<section id="sec-plots">.*?</section>\n', "", committed, count=1, flags=re.S)
    assert fresh == without_plots, (
        f"reports/{name}.html is stale: run `python scripts/make_reports.py {name}` and commit the result")
    assert len(committed) < 3_000_000  # a few MB at most, plots included


def test_every_committed_report_links_existing_plots():
    mk = _make_reports_module()
    import re

    for e in mk.ENTRIES:
        path = os.path.join(ROOT, "reports", f"{e.name}.md")
        if not os.path.exists(path):
            pytest.fail(f"reports/{e.name}.md is missing: run python scripts/make_reports.py")
        text = open(path, encoding="utf-8").read()
        assert text.startswith(f"# {e.spec}\n")
        assert f"`layerscope {' '.join(mk.analyze_argv(e))}`" in text
        for link in re.findall(r"\]\(([^)]+\.png)\)", text):
            assert os.path.exists(os.path.join(ROOT, "reports", link)), link
    assert os.path.exists(os.path.join(ROOT, "reports", "comparison.md"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
