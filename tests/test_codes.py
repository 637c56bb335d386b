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
