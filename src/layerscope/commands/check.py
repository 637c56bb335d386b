"""``layerscope check SPEC... --input-size 224``: the CI gate. Shape bugs, design lints and budgets as
linter-style findings; exit 0 (pass), 1 (findings at or above ``--fail-on``), 2 (misuse, load failure).

Models come from the command line and/or ``[tool.layerscope]`` in pyproject.toml (see
``layerscope.config``). Each ``--input-size`` value is checked separately (several sizes = several runs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from ..check import Budget, at_or_above, budget_diagnostics, check_fail_on, counts, filter_codes, parse_codes, \
    parse_quantity
from ..diagnostics import Diagnostic
from ..errors import ConfigError

NAME = "check"
HELP = "check models for shape bugs, design lints and budgets (exit 1 on findings; for CI)"
FORMATS = ("text", "github", "json", "junit")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", nargs="*", metavar="SPEC",
                        help="models to check (pkg.module:attr, file.py:attr, torchvision:NAME, timm:NAME); "
                             "default: the models in [tool.layerscope] of pyproject.toml")
    parser.add_argument("--input-size", "-s", nargs="+", default=None, metavar="SIZE",
                        help="224, CxHxW or NxCxHxW; several values check several sizes")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size (default 1)")
    parser.add_argument("--mode", choices=["eval", "train"], default=None, help="eval (default) or train mode")
    parser.add_argument("--config", default=None, metavar="PATH",
                        help="pyproject.toml to read [tool.layerscope] from (default: the nearest one)")
    parser.add_argument("--no-config", action="store_true", help="ignore pyproject.toml")
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="text (path:line: CODE severity module: message), github (workflow annotations), "
                             "json, junit (XML)")
    parser.add_argument("-o", "--output", default=None, help="write the findings to this file instead of stdout")
    parser.add_argument("--select", action="append", default=None, metavar="CODES",
                        help="report only these code prefixes, comma-separated (e.g. LS1,LS301)")
    parser.add_argument("--ignore", action="append", default=None, metavar="CODES",
                        help="do not report these code prefixes, comma-separated (e.g. LS305)")
    parser.add_argument("--fail-on", choices=["error", "warning", "info"], default=None,
                        help="lowest severity that fails the check (default: error)")
    parser.add_argument("--max-params", default=None, metavar="N", help="budget, e.g. 25M")
    parser.add_argument("--max-macs", default=None, metavar="N", help="budget, e.g. 4.1G")
    parser.add_argument("--max-activation-bytes", default=None, metavar="N", help="budget, e.g. 200MiB")
    parser.add_argument("--min-receptive-field", default=None, metavar="PX", help="required receptive field")
    parser.add_argument("--no-hints", action="store_true", help="text format: do not print hints")


@dataclass
class Run:
    """One model at one input size, and what the check found."""

    spec: str
    input_size: Any
    findings: list[Diagnostic] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    anchor: tuple[str, int | None] = ("", None)  # where findings without a source line point


# ----------------------------------------------------------------------------------------- planning
def _cli_budget(args: argparse.Namespace) -> Budget:
    values = []
    for flag in ("max_params", "max_macs", "max_activation_bytes", "min_receptive_field"):
        v = getattr(args, flag)
        values.append(parse_quantity(v, what=f"--{flag.replace('_', '-')}") if v is not None else None)
    return Budget(*values)


def _plan(args: argparse.Namespace) -> tuple[list[tuple[str, Any, Budget, int | None, str, tuple[str, int | None]]],
                                             Any]:
    from ..config import CheckConfig, load_config
    from ._common import parse_size

    config = CheckConfig() if args.no_config else load_config(args.config)
    raw_sizes = list(args.input_size or [])
    # ``--input-size 224 torchvision:resnet18``: argparse hands the SPEC to --input-size; a size has no ':'
    args.specs = list(args.specs) + [v for v in raw_sizes if ":" in v]
    cli_sizes = [parse_size(s) for s in raw_sizes if ":" not in s] or None
    cli_budget = _cli_budget(args)
    plan = []
    specs = args.specs or [m.spec for m in config.models]
    if not specs:
        raise ConfigError(
            "nothing to check: give model SPECs or list models in [tool.layerscope] of pyproject.toml"
            + (f" ({config.path} has none)" if config.path else ""),
            hint="e.g. layerscope check torchvision:resnet18 --input-size 224", code="LS960")
    for spec in specs:
        mc = config.model(spec)
        sizes = cli_sizes or (list(mc.input_sizes) if mc else None)
        if not sizes:
            raise ConfigError(f"no input size for {spec}",
                              hint="pass --input-size 224, or set input-size for it in [tool.layerscope]",
                              code="LS960")
        budget = (mc.budget if mc else Budget()).merged(cli_budget)
        batch = args.batch_size if args.batch_size is not None else (mc.batch_size if mc else None)
        mode = args.mode or (mc.mode if mc else "eval")
        if mc is not None and config.path:
            anchor = (_rel(config.path), mc.line)
        else:
            anchor = (spec, None)
        for size in sizes:
            plan.append((mc.spec if mc else spec, size, budget, batch, mode, anchor))
    return plan, config


def _rel(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith(".." + os.sep + "..") else rel


def _split_source(source: str | None) -> tuple[str | None, int | None]:
    if not source:
        return None, None
    path, _, line = source.rpartition(":")
    if path and line.isdigit():
        return _rel(path), int(line)
    return _rel(source), None


def _size_text(size: Any) -> str:
    return str(size) if isinstance(size, int) else "x".join(map(str, size))


# ----------------------------------------------------------------------------------------- running
def _execute(args: argparse.Namespace) -> tuple[list[Run], str]:
    from ..api import analyze
    from ..loading import load_model

    plan, config = _plan(args)
    select = parse_codes(args.select) if args.select else config.select
    ignore = parse_codes(args.ignore) if args.ignore else config.ignore
    fail_on = check_fail_on(args.fail_on or config.fail_on or "error")
    models: dict[str, Any] = {}
    runs = []
    for spec, size, budget, batch, mode, anchor in plan:
        if spec not in models:
            models[spec] = load_model(spec)
        report = analyze(models[spec], input_size=size, batch_size=batch, mode=mode)
        found = list(report.diagnostics) + budget_diagnostics(report, budget)
        found = filter_codes(found, select=select, ignore=ignore)
        runs.append(Run(spec, size, found, {
            "status": report.status, "total_params": report.total_params, "total_macs": report.total_macs,
            "activation_bytes": report.activation_bytes, "ok": report.ok,
        }, anchor))
    return runs, fail_on


def _location(run: Run, d: Diagnostic) -> tuple[str, int | None]:
    path, line = _split_source(d.source)
    if path is None:
        return run.anchor
    return path, line


# ----------------------------------------------------------------------------------------- formats
def format_text(runs: list[Run], fail_on: str, *, hints: bool = True) -> str:
    lines = []
    for run in runs:
        for d in run.findings:
            path, line = _location(run, d)
            where = f"{path}:{line}" if line is not None else path
            module = f" {d.module}" if d.module else ""
            lines.append(f"{where}: {d.code} {d.severity}{module}: {d.message} "
                         f"[{run.spec} @ {_size_text(run.input_size)}]")
            if hints and d.hint:
                lines.append(f"    hint: {d.hint}")
    lines.append(_summary_line(runs, fail_on))
    return "\n".join(lines) + "\n"


def _summary_line(runs: list[Run], fail_on: str) -> str:
    allf = [d for r in runs for d in r.findings]
    c = counts(allf)
    bad = sum(at_or_above(d, fail_on) for d in allf)
    models = len({r.spec for r in runs})
    verdict = f"FAILED ({bad} at or above {fail_on})" if bad else "passed"
    return (f"layerscope check: {models} model(s), {len(runs)} run(s): {c['error']} error(s), "
            f"{c['warning']} warning(s), {c['info']} info: {verdict}")


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def format_github(runs: list[Run], fail_on: str) -> str:
    """GitHub Actions workflow commands: ``::error file=F,line=L,title=T::message``."""
    level = {"error": "error", "warning": "warning", "info": "notice"}
    lines = []
    for run in runs:
        for d in run.findings:
            path, line = _location(run, d)
            props = []
            if path and os.path.isfile(path):  # a model SPEC without a source line is not a file
                props.append(f"file={_gh_escape(path, True)}")
                if line is not None:
                    props.append(f"line={line}")
            title = f"{d.code} {d.module}" if d.module else d.code
            props.append(f"title={_gh_escape(title, True)}")
            msg = f"{d.message} [{run.spec} @ {_size_text(run.input_size)}]" + (f"\nhint: {d.hint}" if d.hint else "")
            lines.append(f"::{level.get(d.severity, 'notice')} {','.join(props)}::{_gh_escape(msg)}")
    lines.append(_summary_line(runs, fail_on))
    return "\n".join(lines) + "\n"


def format_json(runs: list[Run], fail_on: str, code: int) -> str:
    findings = []
    for run in runs:
        for d in run.findings:
            path, line = _location(run, d)
            findings.append({"spec": run.spec, "input_size": run.input_size, "path": path, "line": line,
                             "fails": at_or_above(d, fail_on), **d.to_dict()})
    allf = [d for r in runs for d in r.findings]
    out = {
        "findings": findings,
        "runs": [{"spec": r.spec, "input_size": r.input_size, **r.summary,
                  "findings": len(r.findings)} for r in runs],
        "summary": {**counts(allf), "failing": sum(at_or_above(d, fail_on) for d in allf), "fail_on": fail_on,
                    "exit_code": code},
    }
    return json.dumps(out, indent=1, default=str) + "\n"


def format_junit(runs: list[Run], fail_on: str) -> str:
    """JUnit XML: one testsuite per model, one testcase per input size; findings at or above ``fail_on``
    are ``<failure>`` elements, the others go to ``<system-out>``."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="layerscope check")
    total = failures = 0
    by_spec: dict[str, list[Run]] = {}
    for r in runs:
        by_spec.setdefault(r.spec, []).append(r)
    for spec, spec_runs in by_spec.items():
        suite = ET.SubElement(root, "testsuite", name=spec)
        s_fail = 0
        for r in spec_runs:
            case = ET.SubElement(suite, "testcase", classname=spec, name=f"input {_size_text(r.input_size)}")
            bad = [d for d in r.findings if at_or_above(d, fail_on)]
            for d in bad:
                path, line = _location(r, d)
                where = f"{path}:{line}" if line is not None else path
                f = ET.SubElement(case, "failure", message=f"{d.code} {d.message}"[:500], type=d.code)
                f.text = f"{where}: {d.code} {d.severity} {d.module or ''}: {d.message}\nhint: {d.hint}"
            rest = [d for d in r.findings if not at_or_above(d, fail_on)]
            if rest:
                out = ET.SubElement(case, "system-out")
                out.text = "\n".join(str(d) for d in rest)
            s_fail += 1 if bad else 0
        suite.set("tests", str(len(spec_runs)))
        suite.set("failures", str(s_fail))
        total += len(spec_runs)
        failures += s_fail
    root.set("tests", str(total))
    root.set("failures", str(failures))
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def run(args: argparse.Namespace) -> int:
    runs, fail_on = _execute(args)
    code = 1 if any(at_or_above(d, fail_on) for r in runs for d in r.findings) else 0
    if args.format == "github":
        text = format_github(runs, fail_on)
    elif args.format == "json":
        text = format_json(runs, fail_on, code)
    elif args.format == "junit":
        text = format_junit(runs, fail_on)
    else:
        text = format_text(runs, fail_on, hints=not args.no_hints)
    if args.output:
        folder = os.path.dirname(os.path.abspath(args.output))
        os.makedirs(folder, exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(_summary_line(runs, fail_on) + f" (written to {args.output})")
    else:
        sys.stdout.write(text)
    return code
