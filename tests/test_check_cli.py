"""``layerscope check`` end to end: exit codes, the four formats, config and budgets. In-process through
``layerscope.cli.main`` (one subprocess smoke test runs the real ``python -m layerscope check``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_subprocess(*args: str, cwd: str = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "layerscope", "check", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def run(*args: str, cwd: str = ROOT) -> subprocess.CompletedProcess:
    """``layerscope check ARGS`` in this process (``cli.main``), from ``cwd``, with stdout/stderr captured."""
    import contextlib
    import io

    from layerscope.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["check", *args])
    finally:
        os.chdir(old)
    return subprocess.CompletedProcess(["layerscope", "check", *args], code, out.getvalue(), err.getvalue())


def test_shape_bug_fails_with_a_linter_line():
    p = run_subprocess("examples.buggy:ConvChannelMismatch", "--input-size", "32")  # the one real subprocess
    assert p.returncode == 1, p.stderr
    line = next(l for l in p.stdout.splitlines() if "LS104" in l)
    assert re.match(r"examples/buggy\.py:\d+: LS104 error conv2: ", line), line
    assert "(1, 16, 32, 32)" in line
    assert "hint: build conv2 with in_channels=16" in p.stdout
    assert "FAILED" in p.stdout.splitlines()[-1]


def test_clean_model_and_warnings_pass_unless_fail_on_warning():
    p = run("examples.buggy:ConvBiasBeforeBN", "examples.resnet:resnet18", "--input-size", "32")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "LS301 warning conv" in p.stdout and "passed" in p.stdout.splitlines()[-1]
    p = run("examples.buggy:ConvBiasBeforeBN", "--input-size", "32", "--fail-on", "warning")
    assert p.returncode == 1


def test_ignore_makes_a_warning_gate_pass(capsys, monkeypatch):
    from layerscope.cli import main

    monkeypatch.chdir(ROOT)
    code = main(["check", "examples.buggy:ConvBiasBeforeBN", "--input-size", "32", "--fail-on", "warning",
                 "--ignore", "LS301", "--no-config"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "LS301" not in out


def test_load_failure_and_misuse_exit_2_without_traceback():
    p = run("no_such_pkg.models:Net", "--input-size", "32")
    assert p.returncode == 2
    assert "LS922" in p.stderr and "Traceback" not in p.stderr and "hint:" in p.stderr
    p = run("no_such_pkg.models:Net", "--input-size", "32", "--debug")
    assert p.returncode == 2 and "Traceback" in p.stderr
    p = run("examples.buggy:ConvBiasBeforeBN", "--no-config")  # no input size anywhere
    assert p.returncode == 2 and "LS960" in p.stderr
    p = run("examples.buggy:ConvBiasBeforeBN", "--input-size", "32", "--format", "xml")
    assert p.returncode == 2


def test_github_json_and_junit_formats():
    specs = ("examples.buggy:ConvChannelMismatch", "examples.buggy:ConvBiasBeforeBN", "--input-size", "32")
    gh = run(*specs, "--format", "github")
    assert gh.returncode == 1
    err = next(l for l in gh.stdout.splitlines() if l.startswith("::error"))
    assert re.match(r"::error file=examples/buggy\.py,line=\d+,title=LS104 conv2::", err), err
    assert any(l.startswith("::warning file=examples/buggy.py,line=") and "LS301" in l
               for l in gh.stdout.splitlines())

    js = run(*specs, "--format", "json")
    assert js.returncode == 1
    data = json.loads(js.stdout)
    got = {(f["spec"], f["code"]) for f in data["findings"]}
    assert ("examples.buggy:ConvChannelMismatch", "LS104") in got
    assert ("examples.buggy:ConvBiasBeforeBN", "LS301") in got
    assert data["summary"]["exit_code"] == 1 and data["summary"]["failing"] == 1
    ls104 = next(f for f in data["findings"] if f["code"] == "LS104")
    assert ls104["path"] == "examples/buggy.py" and ls104["module"] == "conv2" and ls104["fails"] is True

    ju = run(*specs, "--format", "junit")
    assert ju.returncode == 1
    root = ET.fromstring(ju.stdout.split("\n", 1)[1])
    assert root.tag == "testsuites" and root.get("tests") == "2" and root.get("failures") == "1"
    failures = root.findall(".//failure")
    assert [f.get("type") for f in failures] == ["LS104"]


@pytest.fixture()
def project(tmp_path):
    (tmp_path / "nets.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn

        def tiny():
            return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3))
    """))
    return tmp_path


def write_config(folder, body: str) -> None:
    (folder / "pyproject.toml").write_text(textwrap.dedent(body))


def test_pyproject_models_and_budgets(project):
    # tiny at 32: params 8*3*9+8 + 8*8*9+8 = 224 + 584 = 808; MACs 30*30*8*27 + 28*28*8*72 = 194400 + 451584
    # = 645984; receptive field 1 + 2 + 2 = 5 px
    write_config(project, """
        [tool.layerscope]
        [[tool.layerscope.models]]
        spec = "nets.py:tiny"
        input-sizes = [32, "3x40x40"]
        max-params = 808
        max_macs = "645984"
        min-receptive-field = 5
    """)
    p = run(cwd=str(project))
    assert p.returncode == 1, p.stdout + p.stderr  # 40x40 has more MACs than the 32x32 budget
    lines = [l for l in p.stdout.splitlines() if "LS5" in l]
    assert len(lines) == 1 and "LS502 error" in lines[0] and "@ 3x40x40" in lines[0]
    # a budget finding points at its budget's line in pyproject.toml (line 7: max_macs; main's budget-line
    # anchoring, which this slow-marked test had not followed)
    assert lines[0].startswith("pyproject.toml:7: ")

    write_config(project, """
        [tool.layerscope]
        fail-on = "error"
        [[tool.layerscope.models]]
        spec = "nets.py:tiny"
        input-size = 32
        max-params = "1K"
        max-macs = "1M"
        min-receptive-field = 6
    """)
    p = run(cwd=str(project))
    assert p.returncode == 1
    assert "LS504 error" in p.stdout and "receptive field 5 px" in p.stdout



def test_command_line_budgets_override_the_config(project, capsys, monkeypatch):
    from layerscope.cli import main

    write_config(project, """
        [tool.layerscope]
        [[tool.layerscope.models]]
        spec = "nets.py:tiny"
        input-size = 32
        min-receptive-field = 6
    """)
    monkeypatch.chdir(project)
    assert main(["check"]) == 1  # receptive field 1 + 2 + 2 = 5 < 6
    assert "LS504" in capsys.readouterr().out
    assert main(["check", "--min-receptive-field", "5"]) == 0
    capsys.readouterr()
    assert main(["check", "--max-params", "800"]) == 1  # 808 parameters (see above)
    assert "LS501 error" in capsys.readouterr().out


def test_bad_config_is_a_coded_usage_error(project):
    write_config(project, """
        [tool.layerscope]
        [[tool.layerscope.models]]
        spec = "nets.py:tiny"
        input-size = 32
        max-parms = 10
    """)
    p = run(cwd=str(project))
    assert p.returncode == 2
    assert "LS949" in p.stderr and "max-params" in p.stderr and "Traceback" not in p.stderr  # dashed, as in TOML (M10)


def test_in_process_sizes_before_specs_and_output_file(tmp_path, capsys, monkeypatch):
    from layerscope.cli import main

    monkeypatch.chdir(ROOT)
    out = tmp_path / "reports" / "check.json"
    # argparse would hand the SPEC to --input-size; the command moves it back
    code = main(["check", "--input-size", "32", "examples.buggy:ConvChannelMismatch", "--no-config",
                 "--format", "json", "-o", str(out)])
    assert code == 1
    data = json.loads(out.read_text())
    assert [f["code"] for f in data["findings"] if f["severity"] == "error"] == ["LS104"]
    assert "written to" in capsys.readouterr().out
    code = main(["check", "examples.buggy:ConvChannelMismatch", "-s", "32", "--no-config", "--select", "LS3"])
    assert code == 1  # a failed trace is reported whatever the selection
