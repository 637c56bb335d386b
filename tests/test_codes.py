"""The code table is a contract: every code literal in the source is catalogued once and appears only in the
modules its entry declares (so one code keeps one meaning); selection follows ruff's prefix rule."""

import ast
import os
import re

import pytest

import layerscope
from layerscope.check import filter_codes, selected
from layerscope.codes import CODES, EXPLANATIONS, RETIRED, TABLE, explain
from layerscope.diagnostics import make

SRC = os.path.dirname(layerscope.__file__)
LITERAL = re.compile(r"LS\d{3}")


def _literals() -> dict[str, set[str]]:
    """code -> the modules (relative to the package) whose source holds it as a string constant."""
    found: dict[str, set[str]] = {}
    for dp, _, files in os.walk(SRC):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(dp, f)
            rel = os.path.relpath(path, SRC).replace(os.sep, "/")
            if rel == "codes.py":  # the table itself
                continue
            with open(path, encoding="utf-8") as fh:
                tree = ast.parse(fh.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and LITERAL.fullmatch(node.value):
                    found.setdefault(node.value, set()).add(rel)
    return found


def test_each_code_is_catalogued_once_in_order():
    codes = [c.code for c in TABLE]
    assert len(codes) == len(set(codes)) and codes == sorted(codes)
    assert not set(codes) & set(RETIRED)
    assert all(c.places for c in TABLE)


def test_each_code_literal_appears_only_in_its_declared_places():
    found = _literals()
    unknown = set(found) - set(CODES)
    assert not unknown, f"codes used but not in layerscope.codes.TABLE: {sorted(unknown)}"
    for code, modules in sorted(found.items()):
        declared = set(CODES[code].places)
        assert modules <= declared, f"{code} appears in {sorted(modules - declared)}, declared {sorted(declared)}"
    for entry in TABLE:
        if entry.places == ("codes.py",):  # raised by the table module itself (not scanned)
            continue
        missing = set(entry.places) - found.get(entry.code, set())
        assert not missing, f"{entry.code} declared in {sorted(missing)} but not used there"


def test_the_erf_codes_no_longer_share_the_input_codes():
    # LS913 and LS914 meant "no input" / "both inputs" (tracing/inputs.py) and also three erf errors
    assert CODES["LS913"].places == ("tracing/inputs.py",) and CODES["LS914"].places == ("tracing/inputs.py",)
    assert {CODES[c].places for c in ("LS957", "LS958", "LS959")} == {("erf.py",)}


def test_make_refuses_unknown_codes():
    with pytest.raises(ValueError, match="LS199"):
        make("LS199", "no such code")
    with pytest.raises(ValueError):
        make("LS120", "retired")
    assert make("LS301", "x").severity == "warning"


def test_every_diagnostic_is_explained():
    diagnostics = {c.code for c in TABLE if c.kind == "diagnostic"}
    assert set(EXPLANATIONS) == diagnostics
    text = explain("ls101")
    for part in ("LS101", "residual shortcut", "What it means", "Why it matters", "Example", "How to fix it"):
        assert part in text


@pytest.mark.parametrize("select, ignore, kept", [
    (["LS301"], ["LS3"], True),  # the more specific select wins (ruff)
    (["LS3"], ["LS301"], False),  # the more specific ignore wins
    (["LS3"], ["LS3"], False),  # a tie: ignore wins
    (None, ["LS3"], False),
    (None, None, True),
    (["LS1"], None, False),
    (["ALL"], ["LS30"], False),
    (["LS"], ["ALL"], True),  # "LS" is longer than ALL (length 0)
])
def test_more_specific_prefix_wins(select, ignore, kept):
    assert selected("LS301", select=select, ignore=ignore) is kept
    assert [d.code for d in filter_codes([make("LS301", "x")], select=select, ignore=ignore)] == (
        ["LS301"] if kept else [])


def test_rule_command_prints_the_explanation(capsys):
    from layerscope.cli import main

    assert main(["rule", "LS101"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# LS101: residual shortcut does not match the main branch")
    assert "## How to fix it" in out and "1x1 conv" in out
    assert main(["rule", "LS913"]) == 0 and "no input given" in capsys.readouterr().out
    assert main(["rule", "--all"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert len(listing) == len(TABLE) + len(RETIRED) and listing[0].startswith("LS100")
    assert main(["rule", "LS199"]) == 2
    assert "LS969" in capsys.readouterr().err


def test_per_model_select_and_ignore_in_the_config(tmp_path, monkeypatch, capsys):
    from layerscope.cli import main
    from layerscope.config import parse_config

    cfg = parse_config({"tool": {"layerscope": {"ignore": ["LS3"], "models": [
        {"spec": "a:b", "input-size": 32, "select": ["LS301"]},
        {"spec": "c:d", "input-size": 32, "ignore": "LS1"}]}}})
    assert cfg.codes_for("a:b") == (("LS301",), ("LS3",))  # its own select, the top-level ignore
    assert cfg.codes_for("c:d") == (None, ("LS1",))
    # end to end: a conv bias before BatchNorm (LS301) fails the gate unless this model ignores LS3
    (tmp_path / "pyproject.toml").write_text(
        '[tool.layerscope]\nfail-on = "warning"\n[[tool.layerscope.models]]\nspec = "examples.buggy:ConvBiasBeforeBN"\n'
        'input-size = 32\nselect = ["LS3"]\nignore = ["LS301"]\n')
    monkeypatch.chdir(tmp_path)
    code = main(["check", "--config", str(tmp_path / "pyproject.toml")])
    out = capsys.readouterr().out
    assert "LS301" not in out and code == 0, out
    assert main(["check", "examples.buggy:ConvBiasBeforeBN", "-s", "32", "--no-config", "--fail-on", "warning"]) == 1
    assert "LS301" in capsys.readouterr().out


# ------------------------------------------------------------------ analyzers declare the codes they emit
import dataclasses  # noqa: E402

import layerscope.analysis as analysis  # noqa: E402
from layerscope.analysis import AnalyzerContractError, AnalyzerResult, AnalyzerSpec, Context, analyzer  # noqa: E402
from layerscope.analysis import lints  # noqa: E402

_FAILURES = "layerscope.analysis.shapes.analyze_failures"  # emits LS101-LS108 through analysis/explain.py


def test_every_analyzer_code_has_one_declared_emitter_in_its_module():
    specs = analysis.default_analyzers()
    assert len({s.name for s in specs}) == len(specs)
    declared = [c for s in specs for c in s.codes]
    assert len(declared) == len(set(declared)), "a code declared by two analyzers"
    for spec in specs:
        for code in spec.codes:
            places = CODES[code].places
            assert spec.module == places[0] or (spec.name == _FAILURES and places[0] == "analysis/explain.py"), \
                f"{code}: emitter {places[0]} in codes.TABLE, declared by {spec.name}"
    # every diagnostic whose emitter is an analysis module (other than the tracer's recovery) has an analyzer
    from_analysis = {c.code for c in TABLE if c.kind == "diagnostic" and c.places[0].startswith("analysis/")
                     and c.places[0] != "analysis/recover.py"}
    assert from_analysis == set(declared)
    assert analysis.emitter("LS305").name == "layerscope.analysis.lints.lint_large_kernel"
    assert analysis.emitter("LS501") is None  # budgets are checked by check.py, not an analyzer


def _ctx(model, size):
    """The Context analyze() builds, for calling analyzers directly."""
    from layerscope.tracing import Tracer, make_inputs

    args, kw = make_inputs(size, None, None, None, None)
    result = Tracer(model).run(args, kw)
    return Context(result.graph, tuple(result.errors), tuple(result.unused_params))


def test_an_undeclared_code_is_a_bug_that_raises():
    from torch import nn

    ctx = _ctx(nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 7)), 32)  # a 7x7 dense conv after the stem
    assert [d.code for d in analysis.run_analyzers(ctx, [lints.lint_large_kernel]).diagnostics] == ["LS305"]
    # the same real lint with a declaration that omits its code
    narrowed = dataclasses.replace(lints.lint_large_kernel, codes=("LS301",))
    with pytest.raises(AnalyzerContractError, match="lint_large_kernel returned LS305, which it does not declare"):
        analysis.run_analyzers(ctx, [narrowed])
    # report data from an analyzer declared without data=True (selection would skip it)
    columns = AnalyzerSpec("t.columns", (), lambda c: AnalyzerResult(columns={0: {"x": 1}}))
    with pytest.raises(AnalyzerContractError, match="data=True"):
        analysis.run_analyzers(ctx, [columns])
    with pytest.raises(TypeError, match="@analyzer"):
        analysis.run_analyzers(ctx, [lambda c: []])  # an undeclared plain function
    with pytest.raises(ValueError, match="LS199"):
        analyzer("LS199")(lambda c: [])
    with pytest.raises(ValueError, match="not a diagnostic"):
        analyzer("LS946")(lambda c: [])  # an exception code is never a finding
    # the CLI reports such a bug as its last resort (LS900), never as a finding of the model
    assert issubclass(AnalyzerContractError, AssertionError)


def _spy(monkeypatch) -> list[str]:
    """Record which default analyzers run."""
    calls: list[str] = []

    def wrap(spec: AnalyzerSpec) -> AnalyzerSpec:
        def fn(ctx, _fn=spec.fn, _name=spec.name):
            calls.append(_name.rpartition(".")[2])
            return _fn(ctx)
        return dataclasses.replace(spec, fn=fn)

    specs = [wrap(s) for s in analysis.default_analyzers()]
    monkeypatch.setattr(analysis, "default_analyzers", lambda: list(specs))
    return calls


def _lint_model():
    from torch import nn

    # 32 px: (32 - 3) % 2 = 1 px dropped (LS112); conv bias into BatchNorm (LS301); pool 2 < stride 3 (LS306)
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.BatchNorm2d(8), nn.MaxPool2d(2, stride=3))


ALL_RUN = ["analyze_failures", "analyze_formulas", "analyze_windows", "analyze_coverage", "analyze_trace_notes",
           "analyze_receptive_field", "analyze_dense_output", "lint_silent_broadcast", "lint_conv_bias_before_bn",
           "lint_checkerboard", "lint_plain_stack", "lint_fc_head", "lint_large_kernel", "lint_pool_skips",
           "lint_batchnorm_batch1", "analyze_upper_bound"]


@pytest.mark.parametrize("select, ignore, skipped", [
    (None, ["LS3"], ["lint_conv_bias_before_bn", "lint_checkerboard", "lint_plain_stack", "lint_fc_head",
                     "lint_large_kernel", "lint_pool_skips", "lint_batchnorm_batch1"]),
    # the more specific select keeps one lint; trace failures (LS1xx errors, LS203) and analyzers producing
    # report data (formula column, receptive field) always run
    (["LS301"], ["LS3"], [n for n in ALL_RUN if n not in (
        "analyze_failures", "analyze_formulas", "analyze_trace_notes", "analyze_receptive_field",
        "lint_conv_bias_before_bn")]),
    (["LS1"], ["LS11"], [n for n in ALL_RUN if n not in (
        "analyze_failures", "analyze_formulas", "analyze_trace_notes", "analyze_receptive_field",
        "analyze_dense_output", "analyze_upper_bound")]),
])
def test_deselected_analyzers_do_not_run_and_the_report_is_otherwise_identical(monkeypatch, select, ignore,
                                                                                skipped):
    calls = _spy(monkeypatch)
    full = layerscope.analyze(_lint_model(), input_size=32)
    assert calls == ALL_RUN
    assert {"LS112", "LS301", "LS306"} <= {d.code for d in full.diagnostics}
    calls.clear()
    picked = layerscope.analyze(_lint_model(), input_size=32, select=select, ignore=ignore)
    assert calls == [n for n in ALL_RUN if n not in skipped]
    expected = dataclasses.replace(full, diagnostics=tuple(filter_codes(full.diagnostics, select=select,
                                                                        ignore=ignore)))
    assert picked.to_dict() == expected.to_dict()
    assert picked.columns and picked.fields is not None  # the receptive field ran although LS4 is deselected


def test_a_bad_selection_fails_before_the_trace(monkeypatch):
    from layerscope.errors import ConfigError

    calls = _spy(monkeypatch)
    with pytest.raises(ConfigError, match="LS9") as exc:
        layerscope.analyze(_lint_model(), input_size=32, ignore=["LS9"])
    assert exc.value.code == "LS946" and calls == []


def test_per_model_selection_in_the_config_skips_the_lints(tmp_path, monkeypatch, capsys):
    from layerscope.cli import main

    calls = _spy(monkeypatch)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.layerscope]\nfail-on = "warning"\n'
        '[[tool.layerscope.models]]\nspec = "examples.buggy:ConvBiasBeforeBN"\ninput-size = 32\nignore = ["LS3"]\n'
        '[[tool.layerscope.models]]\nspec = "examples.buggy:ConvBiasBeforeBN"\ninput-size = 34\n')
    monkeypatch.chdir(tmp_path)
    code = main(["check", "--config", str(tmp_path / "pyproject.toml")])
    out = capsys.readouterr().out
    lint_runs = calls.count("lint_conv_bias_before_bn")
    assert lint_runs == 1, calls  # only for the second model, which keeps the top-level (empty) selection
    assert calls.count("analyze_failures") == 2
    assert code == 1 and out.count("LS301") == 1, out  # the second model's finding fails the gate


def test_rule_command_names_the_emitting_analyzer(capsys):
    from layerscope.cli import main

    assert main(["rule", "LS301"]) == 0
    assert "emitted by layerscope/analysis/lints.py (analyzer layerscope.analysis.lints.lint_conv_bias_before_bn)" \
        in capsys.readouterr().out
    assert main(["rule", "ls104"]) == 0  # through the failure explainers
    assert "(analyzer layerscope.analysis.shapes.analyze_failures)" in capsys.readouterr().out
    assert main(["rule", "LS501"]) == 0
    assert "analyzer" not in capsys.readouterr().out  # a budget: check.py, no analyzer
    assert main(["rule", "--all"]) == 0
    listing = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert listing["LS305"].endswith("[lints.lint_large_kernel]")
    assert listing["LS401"].endswith("[receptive_field.analyze_receptive_field]")
    assert "[" not in listing["LS502"] and "[" not in listing["LS913"]
