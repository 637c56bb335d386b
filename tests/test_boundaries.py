"""The architecture's one-way flow, enforced: heavy dependencies load only where they are used."""

import subprocess
import sys

import layerscope


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in ('torch', 'pandas', 'matplotlib', 'networkx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_import_layerscope_is_light():
    # reading a saved report, formulas and diagnostics must not need torch, pandas, matplotlib or networkx
    assert _loaded_after("import layerscope") == set()


def test_graph_and_report_modules_do_not_import_torch():
    assert "torch" not in _loaded_after(
        "import layerscope.graph, layerscope.report, layerscope.geometry, layerscope.diagnostics, layerscope.analysis")


def test_public_api_is_curated():
    for name in layerscope.__all__:
        assert hasattr(layerscope, name), name
    public = {n for n in dir(layerscope) if not n.startswith("_")}
    # submodules are importable but everything else that is public must be listed in __all__
    import types
    extra = {n for n in public - set(layerscope.__all__) if not isinstance(getattr(layerscope, n), types.ModuleType)}
    assert extra == set()


# ------------------------------------------------------------------------------------------- static import graph
def _import_graph() -> dict[str, set[str]]:
    """layerscope's internal imports, read from the source (function-level imports included)."""
    import ast
    import os

    src = os.path.dirname(layerscope.__file__)
    mods: dict[str, tuple[str, bool]] = {}
    for dp, _, files in os.walk(src):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dp, f)
                rel = "layerscope." + os.path.relpath(path, src)[:-3].replace(os.sep, ".")
                is_pkg = rel.endswith(".__init__")
                mods[rel[:-9] if is_pkg else rel] = (path, is_pkg)
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, (path, is_pkg) in mods.items():
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        pkg = m if is_pkg else m.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".")
                    base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]  # a name may be a submodule
            else:
                continue
            edges[m].update(t for t in targets if t in mods and t != m)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_layerscope_modules():
    edges = _import_graph()
    assert len(edges) > 40 and "layerscope.report" in edges["layerscope.api"]  # the graph is really read
    assert _cycles(edges) == []


def test_data_modules_import_no_analysis_render_or_tracing():
    # the Report and what it holds sit below everything that makes or reads them
    edges = _import_graph()
    upper = ("layerscope.analysis", "layerscope.render", "layerscope.tracing", "layerscope.api",
             "layerscope.commands", "layerscope.rules")
    for data in ("layerscope.report", "layerscope.fields", "layerscope.graph", "layerscope.diagnostics",
                 "layerscope.errors", "layerscope.geometry"):
        # the op table is torch-free vocabulary (graph.py asks it which op is a pad)
        assert not {t for t in edges[data] if t.startswith(upper) and t != "layerscope.rules.table"}, data


def test_saved_report_renders_the_same_without_torch(tmp_path):
    import torch.nn as nn

    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    report = layerscope.analyze(net, input_size=32)
    path = tmp_path / "r.json"
    path.write_text(report.to_json())
    probe = (f"import sys, layerscope\nr = layerscope.Report.from_json(open({str(path)!r}).read())\n"
             "sys.stdout.write(r.to_markdown() + '\\0' + r.to_text() + '\\0' + r._repr_html_() + '\\0')\n"
             "sys.stdout.write(' '.join(m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    md, text, html, loaded = out.split("\0")
    assert loaded == ""
    assert md == report.to_markdown() and text == report.to_text() and html == report._repr_html_()
    assert "| local field (px) | 7 | 7 |" in md  # 3 + (3-1)*2 = 7, the stored field
