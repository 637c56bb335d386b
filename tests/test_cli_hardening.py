"""Regression tests for the CLI / input / loading / output findings of the new-user review
(../shared/findings/new-user-2026-12.md), named by finding id. Every command runs in-process through
``layerscope.cli.main`` on tiny models written to a temporary folder."""

import json
import os
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest
import torch
from torch import nn

import layerscope
from layerscope.cli import main
from layerscope.errors import InputSpecError, LayerscopeError

GOOD = textwrap.dedent('''
    import torch.nn as nn
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1); self.pool = nn.AdaptiveAvgPool2d(1); self.fc = nn.Linear(8, 10)
        def forward(self, x):
            return self.fc(self.pool(self.conv(x)).flatten(1))
    def build(): return Net()
    class FwdRaises(nn.Module):
        def forward(self, x): raise ValueError("forward boom")
    class TwoIn(nn.Module):
        def __init__(self):
            super().__init__(); self.a = nn.Conv2d(3, 4, 3); self.b = nn.Conv2d(3, 4, 3)
        def forward(self, x, y):
            return self.a(x) + self.b(y)
    class ChannelBug(nn.Module):
        def __init__(self):
            super().__init__(); self.conv1 = nn.Conv2d(3, 16, 3); self.conv2 = nn.Conv2d(32, 8, 3)
        def forward(self, x):
            return self.conv2(self.conv1(x))
    class Chained(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_a = nn.Conv2d(3, 16, 3, padding=1); self.conv_b = nn.Conv2d(8, 32, 3, padding=1)
        def forward(self, x):
            skip = self.conv_a(x)
            return self.conv_b(skip) + skip
    class Chatty(nn.Module):
        def __init__(self):
            super().__init__(); print("hello from __init__"); self.fc = nn.Linear(4, 2)
        def forward(self, x):
            print("hello from forward")
            return self.fc(x.flatten(1)[:, :4])
    class ExitFwd(nn.Module):
        def forward(self, x):
            import sys; sys.exit(3)
    def exit_build():
        raise SystemExit(4)
''')


@pytest.fixture
def work(tmp_path, monkeypatch):
    (tmp_path / "good.py").write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for name in list(sys.modules):
        if name.startswith("_layerscope_user_"):
            sys.modules.pop(name, None)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------------------ crashes (C*)
@pytest.mark.parametrize("target", [".", "outdir/", "good.py/x.md", "/proc/x.md"])
def test_C2_bad_output_path_is_coded_and_checked_before_tracing(work, capsys, monkeypatch, target):
    import layerscope.api

    def boom(*a, **k):  # the path is refused before any analysis runs
        raise AssertionError("analyze ran before the output path was checked")

    monkeypatch.setattr(layerscope.api, "analyze", boom)
    os.makedirs("outdir", exist_ok=True)
    code, out, err = run(capsys, "analyze", "good.py:Net", "-s", "32", "-o", target)
    assert code == 2
    assert "LS970" in err and "LS900" not in err


@pytest.mark.parametrize("argv", [
    ["check", "good.py:Net", "-s", "32", "--format", "junit", "-o", "/proc/r.xml"],
    ["compare", "good.py:Net", "good.py:build", "-s", "32", "-o", "/proc/c.md"],
    ["diff", "good.py:Net", "good.py:build", "-s", "32", "-o", "/proc/d.md"],
    ["scale", "good.py:Net", "--resolution", "16", "32", "--plot", "/proc/s.png"],
])
def test_C2_every_command_refuses_an_unwritable_output(work, capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and "LS970" in err and "LS900" not in err


def test_C3_diff_with_a_bad_report_file(work, capsys):
    (work / "bad.json").write_text("{not json")
    (work / "x.json").write_text('{"a": 1}')
    code, _, err = run(capsys, "diff", "nonexist.json", "good.py:Net", "-s", "32")
    assert code == 2 and "LS971" in err and "nonexist.json" in err
    code, _, err = run(capsys, "diff", "bad.json", "good.py:Net", "-s", "32")
    assert code == 2 and "LS972" in err and "not a layerscope JSON report" in err
    code, _, err = run(capsys, "diff", "x.json", "good.py:Net", "-s", "32")
    assert code == 2 and "LS972" in err and "schema None" not in err


def test_C4_scale_needs_two_resolutions_and_reports_a_failing_model(work, capsys):
    code, _, err = run(capsys, "scale", "good.py:Net", "--resolution", "32")
    assert code == 2 and "LS973" in err and "LS900" not in err
    code, out, err = run(capsys, "scale", "good.py:FwdRaises", "--resolution", "32", "64")
    assert code == 1 and "LS900" not in err
    assert out.count("failed") == 2  # one row per resolution
    assert "LS100" in err and "forward boom" in err


def test_C5_top_k_must_be_positive(work, capsys):
    code, _, err = run(capsys, "analyze", "good.py:Net", "-s", "32", "--top-k", "-5", "-o", "t.md")
    assert code == 2 and "--top-k" in err and "LS900" not in err
    assert not os.path.exists("t.md")


def test_C6_assert_shapes_ok_parses_budget_strings():
    from layerscope.testing import assert_shapes_ok

    net = nn.Conv2d(3, 8, 3)
    # 8*3*3*3 + 8 = 224 params
    assert assert_shapes_ok(net, input_size=32, max_params="1K").total_params == 224
    with pytest.raises(AssertionError, match="LS501"):
        assert_shapes_ok(net, input_size=32, max_params="0.2K")
    with pytest.raises(LayerscopeError) as info:
        assert_shapes_ok(net, input_size=32, max_params="lots")
    assert info.value.code == "LS947"


def test_C7_argv_parsing_at_import_does_not_see_layerscope_arguments(work, capsys):
    (work / "train.py").write_text(textwrap.dedent('''
        import argparse
        p = argparse.ArgumentParser(); p.add_argument("--lr"); args = p.parse_args()
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self): super().__init__(); self.fc = nn.Linear(8, 2)
            def forward(self, x): return self.fc(x)
    '''))
    code, out, err = run(capsys, "analyze", "train.py:Net", "-s", "1x8")
    assert code == 0, err
    assert "usage: layerscope" not in err
    # a parser that needs an argument exits: a coded LS922 naming the cause, exit 2
    (work / "train2.py").write_text("import argparse\np = argparse.ArgumentParser(); p.add_argument('--lr', "
                                    "required=True); p.parse_args()\n")
    code, out, err = run(capsys, "analyze", "train2.py:Net", "-s", "8")
    assert code == 2 and "LS922" in err and "sys.exit(2)" in err and "__main__" in err


def test_C7_sys_exit_in_forward_or_builder_is_coded(work, capsys):
    code, _, err = run(capsys, "analyze", "good.py:ExitFwd", "-s", "8")
    assert code == 2 and "LS927" in err and "sys.exit(3)" in err
    code, _, err = run(capsys, "analyze", "good.py:exit_build", "-s", "8")
    assert code == 2 and "LS924" in err and "sys.exit(4)" in err
    # the Python API raises the coded error too, and leaves the model untouched
    from layerscope.errors import ModelLoadError

    class Exits(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            sys.exit(5)

    m = Exits()
    with pytest.raises(ModelLoadError) as info:
        layerscope.analyze(m, input_size=(1, 2))
    assert info.value.code == "LS927"
    assert m.fc.weight.device.type == "cpu" and not m._forward_hooks


# ------------------------------------------------------------------------------------ input grammar (M*)
def test_M1_several_sizes_are_several_inputs(work, capsys):
    code, out, err = run(capsys, "analyze", "good.py:TwoIn", "-s", "8", "8", "--format", "json")
    assert code == 0, err
    from layerscope.report import Report

    assert [t.shape for t in Report.from_json(out).inputs] == [(1, 3, 8, 8), (1, 3, 8, 8)]
    # a one-input model given two sizes: the message is about the inputs, not a layer
    code, out, err = run(capsys, "analyze", "good.py:Net", "-s", "32", "32")
    assert code == 1
    assert "input" in out and "--input-size value per positional input" in out
    assert "in_channels" not in out


def test_M2_shapes_other_than_chw_are_used_as_written():
    from layerscope.sizes import input_shapes

    assert input_shapes((1, 3, 224, 224)) == [(1, 3, 224, 224)]   # torchinfo's form
    assert input_shapes((2, 10)) == [(2, 10)]                     # a token batch
    assert input_shapes((32, 784)) == [(32, 784)]                 # an MLP batch, not BatchNorm channels
    assert input_shapes((3, 32, 32)) == [(1, 3, 32, 32)]          # (C, H, W) gets its batch
    assert input_shapes((1, 2, 8), full_shape=True) == [(1, 2, 8)]
    assert input_shapes(8) == [(1, 3, 8, 8)]
    assert input_shapes([(3, 8, 8), (1, 5)]) == [(1, 3, 8, 8), (1, 5)]


def test_M2_token_model_with_2d_long_input_works_as_written():
    class Tok(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(100, 16)
            self.att = nn.MultiheadAttention(16, 2, batch_first=True)

        def forward(self, ids):
            x = self.emb(ids)
            return self.att(x, x, x)[0]

    r = layerscope.analyze(Tok(), input_size=(2, 10), dtype=torch.long)
    assert r.ok, r.diagnostics
    assert r.inputs[0].shape == (2, 10) and r.outputs[0].shape == (2, 10, 16)
    # PyTorch agrees: the same shape runs in eager mode
    assert Tok()(torch.zeros(2, 10, dtype=torch.long)).shape == (2, 10, 16)


def test_M2_first_layer_rejecting_the_input_blames_the_input_size(work, capsys):
    code, out, _ = run(capsys, "analyze", "good.py:Net", "-s", "1x4x32x32")
    assert code == 1
    lines = out.splitlines()
    i = next(i for i, x in enumerate(lines) if "LS104" in x)
    message, hint = lines[i], lines[i + 1]
    assert "model input" in message and "check the input size first" in hint
    assert "--input-size 1x3x32x32" in hint  # how to give the size the layer wants
    # eager PyTorch accepts that suggested size
    from importlib import util

    spec = util.spec_from_file_location("good_eager", work / "good.py")
    mod = util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.Net()(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    # a rank the layer cannot take: also the input size's fault
    code, out, _ = run(capsys, "analyze", "good.py:Net", "-s", "1x3x224x224x5")
    assert code == 1 and "model input (1, 3, 224, 224, 5)" in out and "in_channels" not in out.split("hint")[0]


def test_P3_text_table_has_a_receptive_field_column_and_short_diagnostic_lines(work, capsys):
    code, out, _ = run(capsys, "analyze", "good.py:ChannelBug", "-s", "32")
    header = out.splitlines()[0].split()
    assert "RF" in header
    conv1 = next(x for x in out.splitlines() if x.startswith("conv1 "))
    assert conv1.split()[header.index("RF")] == "3"  # one 3x3 conv sees 3 px
    assert any(x.strip().startswith("hint:") for x in out.splitlines())


@pytest.mark.parametrize("size", ["3x", "1x3x32x32x", "x3", "3xx4", "0x3x32x32", "3x0x32", "-1"])
def test_M3_malformed_sizes_are_refused(work, capsys, size):
    code, _, err = run(capsys, "analyze", "good.py:Net", "-s", size)
    assert code == 2 and ("LS941" in err or "LS912" in err), err


def test_M3_zero_batch_and_contradictory_batch_are_refused(work, capsys):
    code, _, err = run(capsys, "analyze", "good.py:Net", "-s", "32", "--batch-size", "0")
    assert code == 2 and "--batch-size" in err
    net = nn.Conv2d(3, 4, 3)
    with pytest.raises(InputSpecError) as info:
        layerscope.analyze(net, input_size=(2, 3, 16, 16), batch_size=4)
    assert info.value.code == "LS919"
    with pytest.raises(InputSpecError) as info:
        layerscope.analyze(net, input_size=(0, 3, 16, 16))
    assert info.value.code == "LS912"
    with pytest.raises(InputSpecError):
        layerscope.analyze(net, input_size=16, batch_size=0)


def test_M3_config_uses_the_same_grammar():
    from layerscope.config import parse_config

    with pytest.raises(LayerscopeError) as info:
        parse_config({"tool": {"layerscope": {"models": [{"spec": "a:b", "input-size": "3x"}]}}})
    assert info.value.code == "LS941"
    cfg = parse_config({"tool": {"layerscope": {"models": [{"spec": "a:b", "input-size": "2x10"}]}}})
    assert cfg.models[0].input_sizes == ((2, 10),)


def test_R3_the_readme_states_the_grammar_the_code_follows():
    import re

    from layerscope.sizes import input_shapes

    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md"), encoding="utf-8").read()
    text = " ".join(readme.split())
    # the rule as the README writes it, in the API section and in Limits
    assert "a 3-dim shape `(C, H, W)` gets the batch dimension" in text
    assert "**any other shape is used as written, batch first**" in text
    assert "a list of ints is one shape" in text
    assert "An `input_size` shape of 3 dims is `(C, H, W)` and gets a batch dimension; every other shape is used as written" in text
    # and every example the README gives behaves as it says
    m = re.search(r"an int `(\d+)` is one `(\([\d, ]+\))` image batch", text)
    assert m and input_shapes(int(m.group(1))) == [eval(m.group(2))]
    for written in ["(1, 3, 224, 224)", "(2, 10)"]:  # "used as written", as in torchinfo
        assert f"`{written}`" in text
        assert input_shapes(eval(written)) == [eval(written)]
    assert input_shapes((2, 3, 8, 32, 32)) == [(2, 3, 8, 32, 32)]  # (N, C, D, H, W)
    assert input_shapes((8, 100)) == [(8, 100)]  # (N, F) for an MLP
    assert input_shapes((3, 224, 224)) == [(1, 3, 224, 224)]
    assert input_shapes((2, 3, 64), full_shape=True) == [(2, 3, 64)]
    assert "`[(3, 32, 32), (1, 10)]`" in text
    assert input_shapes([(3, 32, 32), (1, 10)]) == [(1, 3, 32, 32), (1, 10)]
    assert input_shapes([3, 32, 32]) == input_shapes((3, 32, 32))


def _pyproject(folder, models, max_params="1M"):
    lines = ["[tool.layerscope]", ""]
    for spec in models:
        lines += ["[[tool.layerscope.models]]", f'spec = "{spec}"', "input-size = 32", f'max-params = "{max_params}"',
                  ""]
    (folder / "pyproject.toml").write_text("\n".join(lines))


def test_M4_one_unloadable_model_does_not_hide_the_others(work, capsys):
    (work / "buggy.py").write_text(GOOD)
    code, out, err = run(capsys, "check", "good.py:Net", "buggy.py:ChannelBug", "good.py:nope", "-s", "32",
                         "--format", "junit", "-o", "r.xml")
    assert code == 2
    root = ET.parse("r.xml").getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 3
    assert root.get("errors") == "1" and root.get("failures") == "1"
    err_case = next(c for c in cases if c.find("error") is not None)
    assert "LS923" in err_case.find("error").get("message")
    fail_case = next(c for c in cases if c.find("failure") is not None)
    assert "LS104" in fail_case.find("failure").get("message")
    # JSON: the failure is an entry of its own
    code, out, _ = run(capsys, "check", "good.py:Net", "good.py:nope", "-s", "32", "--format", "json")
    data = json.loads(out)
    assert code == 2 and data["summary"]["exit_code"] == 2
    assert [r["status"] for r in data["runs"]] == ["complete", "load-failed"]
    # from [tool.layerscope]: the message names the entry
    _pyproject(work, ["good.py:Net", "good.py:nope"])
    code, out, _ = run(capsys, "check")
    assert code == 2 and "[[tool.layerscope.models]] #2" in out and "LS923" in out


def test_M4_compare_reports_the_models_that_loaded(work, capsys):
    code, out, err = run(capsys, "compare", "good.py:Net", "good.py:nope", "-s", "32", "--format", "json")
    assert code == 2
    rows = json.loads(out)
    assert [r["status"] for r in rows] == ["complete", "load-failed"]
    assert rows[0]["params"] == 8 * 3 * 9 + 8 + 8 * 10 + 10
    assert "LS923" in err


def test_M5_model_prints_do_not_corrupt_stdout(work, capsys):
    code, out, err = run(capsys, "analyze", "good.py:Chatty", "-s", "1x8", "--format", "json")
    assert code == 0
    json.loads(out)  # stdout is only the report
    assert "hello from __init__" in err and "hello from forward" in err
    for fmt in ("json", "junit", "github"):
        code, out, err = run(capsys, "check", "good.py:Chatty", "-s", "1x8", "--format", fmt)
        assert "hello" not in out, fmt
    code, out, err = run(capsys, "check", "good.py:Chatty", "-s", "1x8", "--format", "junit")
    ET.fromstring(out)


def test_M6_config_paths_resolve_against_pyproject(work, capsys, monkeypatch):
    _pyproject(work, ["good.py:Net"])
    sub = work / "subdir"
    sub.mkdir()
    monkeypatch.chdir(sub)
    code, out, err = run(capsys, "check")
    assert code == 0, out + err
    assert "1 model(s), 1 run(s)" in out


def test_M7_relative_import_hint_names_the_dotted_form(work, capsys):
    pkg = work / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "blocks.py").write_text(GOOD)
    (pkg / "models.py").write_text("from .blocks import Net\ndef build_model(): return Net()\n")
    code, _, err = run(capsys, "analyze", "mypkg/models.py:build_model", "-s", "32")
    assert code == 2 and "LS922" in err and "mypkg.models:build_model" in err
    code, _, err = run(capsys, "analyze", "mypkg.models:build_model", "-s", "32")
    assert code == 0, err


def test_M10_config_messages_use_dashed_keys(work, capsys):
    from layerscope.config import parse_config

    with pytest.raises(LayerscopeError) as info:
        parse_config({"tool": {"layerscope": {"fail_onn": "error"}}})
    assert "fail-on" in info.value.hint and "fail_on" not in info.value.hint
    with pytest.raises(LayerscopeError) as info:
        parse_config({"tool": {"layerscope": {"models": [{"spec": "a:b", "max-params": "lots"}]}}})
    assert "max-params" in info.value.message and "max_params" not in info.value.message
    code, _, err = run(capsys, "check", "good.py:Net", "-s", "32", "--max-params", "-5")
    assert code == 2 and "non-negative" in err and "not a number" not in err


def test_M11_dotted_attr_blames_the_right_object(work, capsys):
    code, _, err = run(capsys, "analyze", "good.py:Net.x", "-s", "32")
    assert code == 2 and "good.py:Net has no attribute 'x'" in err


@pytest.mark.parametrize("value", ["", " , ", "LS9", "LS1000"])
def test_M13_select_rejects_empty_and_unknown_prefixes(work, capsys, value):
    code, _, err = run(capsys, "check", "good.py:Net", "-s", "32", "--select", value)
    assert code == 2 and "LS946" in err


# --------------------------------------------------------------------------------------------- docs (R*)
def test_R4_pre_commit_hooks_file_at_the_repository_root():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, ".pre-commit-hooks.yaml")
    assert os.path.isfile(path)
    text = open(path, encoding="utf-8").read()
    assert "- id: layerscope-check" in text and "entry: layerscope check" in text
    try:
        import yaml
    except ImportError:
        return
    hooks = yaml.safe_load(text)
    assert hooks[0]["id"] == "layerscope-check" and hooks[0]["pass_filenames"] is False


def test_R5_exit_codes_keep_their_meaning(work, capsys):
    assert run(capsys, "analyze", "good.py:Net", "-s", "32")[0] == 0
    assert run(capsys, "analyze", "good.py:FwdRaises", "-s", "32")[0] == 1   # a failing forward is a finding
    assert run(capsys, "analyze", "good.py:ExitFwd", "-s", "32")[0] == 2     # never the user's exit code
    assert run(capsys, "check", "good.py:FwdRaises", "-s", "32")[0] == 1
    assert run(capsys, "compare", "good.py:Net", "good.py:FwdRaises", "-s", "32")[0] == 1


def test_R6_follows_error_is_visible_in_every_format(work, capsys):
    marker = "follows an earlier error"
    code, out, _ = run(capsys, "analyze", "good.py:Chained", "-s", "16")
    assert code == 1 and out.count(marker) == 1
    for fmt in ("text", "github", "junit"):
        code, out, _ = run(capsys, "check", "good.py:Chained", "-s", "16", "--format", fmt)
        assert marker in out, fmt
    code, out, _ = run(capsys, "check", "good.py:Chained", "-s", "16")
    assert "2 error(s) (1 following an earlier one)" in out
    code, out, _ = run(capsys, "analyze", "good.py:Chained", "-s", "16", "-o", "c.md", "--no-plots")
    assert marker in open("c.md").read()


# -------------------------------------------------------------------------------------------- polish (P*)
def test_P2_module_is_not_repeated_and_installed_paths_are_short(work, capsys):
    from layerscope.diagnostics import make

    d = make("LS403", "layer3.4.conv2: the receptive field exceeds the input", module="layer3.4.conv2")
    assert str(d) == "LS403 info layer3.4.conv2: the receptive field exceeds the input"
    from layerscope.commands.check import _split_source

    path, line = _split_source("/opt/env/lib/python3.11/site-packages/torchvision/models/resnet.py:92")
    assert (path, line) == ("torchvision/models/resnet.py", 92)


def test_golden_source_paths_from_a_venv_inside_the_checkout():
    """A fresh clone with ``python -m venv .venv`` inside it: installed libraries still print as
    ``torchvision/...``, not ``.venv/lib/python3.11/site-packages/torchvision/...``."""
    from layerscope.render.table import relative_source

    root = "/home/u/layerscope"
    src = f"{root}/.venv/lib/python3.11/site-packages/torchvision/models/resnet.py:92"
    assert relative_source(src, root) == "torchvision/models/resnet.py:92"
    assert relative_source(f"{root}/examples/resnet.py:10", root) == "examples/resnet.py:10"


def test_P3_long_tables_point_at_depth(work, capsys):
    (work / "deep.py").write_text("import torch.nn as nn\n"
                                  "def build(): return nn.Sequential(*[nn.Linear(4, 4) for _ in range(90)])\n")
    code, out, err = run(capsys, "analyze", "deep.py:build", "-s", "1x4")
    assert code == 0 and "--depth" in err and "--depth" not in out


def test_P5_compare_keeps_tiny_models_visible():
    tiny = nn.Sequential(nn.Conv2d(3, 4, 3))  # 4*27 + 4 = 112 params
    cmp = layerscope.compare([tiny], names=["tiny"], input_size=8)
    row = cmp.table.iloc[0]
    assert row["params_M"] == 0.000112 and row["params_M"] > 0
    assert str(cmp.table["rf"].dtype) == "Int64"
    assert "0.000112" in cmp.to_markdown()


def test_P7_junit_one_failure_per_testcase_with_time_and_no_dots(work, capsys):
    (work / "two.py").write_text(GOOD + textwrap.dedent('''
        class TwoBugs(nn.Module):
            def __init__(self):
                super().__init__(); self.a = nn.Conv2d(4, 8, 3); self.b = nn.Linear(99, 2)
            def forward(self, x):
                return self.a(x).sum() + self.b(x.flatten(1)).sum()
    '''))
    _pyproject(work, ["two.py:TwoBugs"], max_params="10")
    code, out, _ = run(capsys, "check", "--format", "junit")
    root = ET.fromstring(out)
    case = root.find(".//testcase")
    assert len(case.findall("failure")) == 1
    assert case.get("time") is not None and float(case.get("time")) >= 0
    assert "." not in case.get("classname")
    # the budget finding points at the max-params line of pyproject.toml, not at spec =
    code, out, _ = run(capsys, "check", "--format", "json", "--select", "LS501")
    lines = open("pyproject.toml").read().splitlines()
    budget = next(f for f in json.loads(out)["findings"] if f["code"] == "LS501")
    assert lines[budget["line"] - 1].startswith("max-params")


def test_P8_written_file_names_are_right(work, capsys):
    code, out, _ = run(capsys, "compare", "good.py:Net", "good.py:build", "-s", "32", "-o", "cmp/cmp8.md")
    assert code == 0 and "cmp/cmp8_pareto.png" in out and os.path.exists("cmp/cmp8_pareto.png")
    from layerscope.commands.scale import plot_path_for

    assert plot_path_for("compound.md", "_compound.png") == "compound.png"
    assert plot_path_for("out/scaling_resnet50.md", "_scaling.png") == "out/scaling_resnet50_scaling.png"
    code, _, err = run(capsys, "scale", "--efficientnet", "--resolution", "224", "-o", "x.md")
    assert code == 2 and "--resolution" in err


def test_P9_one_check_run_writes_annotations_and_junit(work, capsys):
    code, out, err = run(capsys, "check", "good.py:ChannelBug", "-s", "32", "--format", "github",
                         "--junit-xml", "reports/layerscope.xml")
    assert code == 1
    assert out.startswith("::error")
    assert ET.parse("reports/layerscope.xml").getroot().get("failures") == "1"


def test_P11_torch_warnings_do_not_leak(recwarn):
    from torch.utils.checkpoint import checkpoint

    class Ck(nn.Module):
        def __init__(self):
            super().__init__()
            self.l = nn.Linear(4, 4)

        def forward(self, x):
            return checkpoint(self.l, x, use_reentrant=True)

    layerscope.analyze(Ck(), input_size=(1, 4))
    assert not [w for w in recwarn if "requires_grad" in str(w.message)]


def test_P11_jit_deprecation_notices_of_the_model_script_do_not_leak(work, capsys):
    (work / "scripted.py").write_text("import torch, torch.nn as nn\n"
                                      "def build(): return torch.jit.script(nn.Sequential(nn.Linear(4, 4)))\n")
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(["analyze", "scripted.py:build", "-s", "1x4"])
    capsys.readouterr()
    assert not [w for w in caught if "torch.jit" in str(w.message)]


# ------------------------------------------------------------------------------- wrong verdicts (W5, W6)
def _tiny(width):
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU())


def test_W5_failed_configurations_are_never_on_the_frontier():
    def build(width):
        if width == 3:
            raise ValueError("no")
        return _tiny(width)

    df = layerscope.sweep(build, {"width": [3, 8]}, input_size=16, executor=False)
    failed = df[df.status == "failed"]
    assert len(failed) == 1 and not failed.pareto.any()
    assert str(df["params"].dtype) == "Int64" and df["params"].iloc[1] == 8 * 27 + 8


def test_W5_unpicklable_build_gets_its_own_code():
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1) as pool:
        df = layerscope.sweep(lambda width: _tiny(width), {"width": [8]}, input_size=16, executor=pool)
    assert df.error_code.iloc[0] == "LS974" and "module-level function" in df.error.iloc[0]
    assert not df.pareto.iloc[0]


def test_W6_diff_says_when_a_side_has_errors(work, capsys):
    code, out, err = run(capsys, "diff", "good.py:Net", "good.py:Net", "-s", "32", "--input-size-b", "1x4x32x32")
    assert code == 1 and "B (good.py:Net) has 1 error(s)" in out and "LS104" in out
    code, out, _ = run(capsys, "diff", "good.py:build", "good.py:FwdRaises", "-s", "32")
    assert code == 1 and "LS100" in out
    code, out, _ = run(capsys, "diff", "good.py:build", "good.py:Net", "-s", "32", "--format", "json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_failed_status_always_fails_check_compare_and_diff():
    """A report whose status is "failed" fails the gate, even when no finding at or above --fail-on says why
    (check then adds the missing LS100 itself)."""
    from layerscope.commands.check import Run, exit_code
    from layerscope.diagnostics import make

    silent = Run("m:x", 32, [], {"status": "failed"})
    assert exit_code([silent], "error") == 1
    assert exit_code([Run("m:x", 32, [make("LS301", "lint")], {"status": "complete"})], "error") == 0
    loaded = Run("m:y", 32, [], {"status": "complete"})
    not_loaded = Run("m:z", 32, [], {"status": "load-failed"}, error=LayerscopeError("no", code="LS923"))
    assert exit_code([loaded, not_loaded], "error") == 2


def test_P2_github_annotations_only_point_into_the_repository(work):
    from layerscope.commands.check import Run, format_github
    from layerscope.diagnostics import make

    import torchvision.models.resnet as tv_resnet  # an installed file: it exists, but outside the repository

    d = make("LS403", "x", module="layer3", source=f"{tv_resnet.__file__}:9")
    local = make("LS104", "y", module="conv", source=str(work / "good.py") + ":7")
    text = format_github([Run("torchvision:resnet18", 224, [d, local], {"status": "complete"})], "error")
    notice, error = [l for l in text.splitlines() if l.startswith("::")]
    assert "file=" not in notice and "title=LS403 layer3" in notice
    assert "file=good.py,line=7" in error


def test_M2_a_3d_sequence_hint_names_full_shape():
    class Att(nn.Module):
        def __init__(self):
            super().__init__()
            self.att = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            return self.att(x, x, x)[0]

    bad = layerscope.analyze(Att(), input_size=(1, 5, 8))  # read as (C, H, W): a 4-d query
    assert not bad.ok and "full_shape=True" in bad.errors[0].hint
    good = layerscope.analyze(Att(), input_size=(1, 5, 8), full_shape=True)
    assert good.ok and good.outputs[0].shape == (1, 5, 8) == Att()(torch.zeros(1, 5, 8)).shape


def test_R1_workflow_does_not_install_layerscope_from_pypi():
    """layerscope is not on PyPI: the workflow installs it from one LAYERSCOPE_PIP setting that the CI README
    tells the user to set, and runs the check once (P9)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    wf = open(os.path.join(root, "examples/ci/github-workflow.yml"), encoding="utf-8").read()
    steps = [line.split("run:", 1)[1].strip() for line in wf.splitlines() if line.strip().startswith("- run:")
             or line.strip().startswith("run:")]
    installs = [s for s in steps if s.startswith("pip install") and "torch" not in s]
    assert installs == ['pip install -e . "$LAYERSCOPE_PIP"']
    assert "LAYERSCOPE_PIP:" in wf
    assert "LAYERSCOPE_PIP" in open(os.path.join(root, "examples/ci/README.md"), encoding="utf-8").read()
    assert sum(s.startswith("layerscope check") for s in steps) == 1


def test_C7_sys_exit_anywhere_in_user_code_keeps_the_exit_codes(monkeypatch, capsys):
    import layerscope.commands.analyze as analyze_cmd

    def exits(args):  # user code that escaped every narrower guard
        raise SystemExit(7)

    monkeypatch.setattr(analyze_cmd, "run", exits)
    code, _, err = run(capsys, "analyze", "x.py:Net", "-s", "8")
    assert code == 2 and "LS927" in err and "sys.exit(7)" in err

    def build(width):
        raise SystemExit(3)

    df = layerscope.sweep(build, {"width": [8]}, input_size=16, executor=False)
    assert df.error_code.iloc[0] == "LS924" and "sys.exit(3)" in df.error.iloc[0]
