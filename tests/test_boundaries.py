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
