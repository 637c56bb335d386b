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
from ..errors import ConfigError, LayerscopeError, ModelLoadError
from ._common import check_output, positive_int, user_code, writing

NAME = "check"
HELP = "check models for shape bugs, design lints and budgets (exit 1 on findings; for CI)"
FORMATS = ("text", "github", "json", "junit")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", nargs="*", metavar="SPEC",
                        help="models to check (pkg.module:attr, file.py:attr, torchvision:NAME, timm:NAME); "
                             "default: the models in [tool.layerscope] of pyproject.toml")
    parser.add_argument("--input-size", "-s", nargs="+", default=None, metavar="SIZE",
                        help="224 (a 1x3x224x224 batch), CxHxW (batch added), any other shape as written, batch "
                             "first (1x3x224x224, 2x10); several values check several sizes (one run each)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="batch size where the size lacks one (default 1)")
    parser.add_argument("--full-shape", action="store_true",
                        help="take 3-dim sizes as written too (NxCxL, NxLxE) instead of CxHxW")
    parser.add_argument("--mode", choices=["eval", "train"], default=None, help="eval (default) or train mode")
    parser.add_argument("--config", default=None, metavar="PATH",
                        help="pyproject.toml to read [tool.layerscope] from (default: the nearest one)")
    parser.add_argument("--no-config", action="store_true", help="ignore pyproject.toml")
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="text (path:line: CODE severity module: message), github (workflow annotations), "
                             "json, junit (XML)")
    parser.add_argument("-o", "--output", default=None, help="write the findings to this file instead of stdout")
    parser.add_argument("--junit-xml", default=None, metavar="PATH",
                        help="also write a JUnit XML report to PATH (one run gives both the annotations and the "
                             "report)")
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
    parser.add_argument("--max-train-memory", default=None, metavar="BYTES",
                        help="budget for the peak memory of one training step, e.g. 24GiB (LS506)")
    parser.add_argument("--optimizer", choices=("sgd", "sgd-momentum", "adam", "adamw"), default="adamw",
                        help="with --max-train-memory: the optimizer (default adamw)")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16", "bf16-mixed", "fp16-mixed"),
                        default="fp32", help="with --max-train-memory: the precision (default fp32)")
    parser.add_argument("--no-hints", action="store_true", help="text format: do not print hints")


@dataclass
class Run:
    """One model at one input size, and what the check found."""

    spec: str
    input_size: Any
    findings: list[Diagnostic] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    anchor: tuple[str, int | None] = ("", None)  # where findings without a source line point
    error: LayerscopeError | None = None  # the model could not be loaded (or its code exited): no report
    seconds: float = 0.0
    budget_lines: dict[str, int] = field(default_factory=dict)  # code -> config line of its budget key

    @property
    def load_failed(self) -> bool:
        return self.error is not None


# ----------------------------------------------------------------------------------------- planning
def _cli_budget(args: argparse.Namespace) -> Budget:
    values = []
    for flag in ("max_params", "max_macs", "max_activation_bytes", "min_receptive_field"):
        v = getattr(args, flag)
        values.append(parse_quantity(v, what=f"--{flag.replace('_', '-')}") if v is not None else None)
    return Budget(*values)


_BUDGET_CODES = {"max_params": "LS501", "max_macs": "LS502", "max_activation_bytes": "LS503",
                 "min_receptive_field": "LS504"}


def _plan(args: argparse.Namespace) -> tuple[list[tuple[Any, ...]], Any]:
    from ..config import CheckConfig, load_config
    from ._common import parse_size

    config = CheckConfig() if args.no_config else load_config(args.config)
    raw_sizes = list(args.input_size or [])
    # ``--input-size 224 torchvision:resnet18``: argparse hands the SPEC to --input-size; a size has no ':'
    args.specs = list(args.specs) + [v for v in raw_sizes if ":" in v]
    cli_sizes = [parse_size(s) for s in raw_sizes if ":" not in s] or None
    cli_budget = _cli_budget(args)
    plan = []
    # each [[tool.layerscope.models]] entry with its own settings, also when two entries share a SPEC
    entries = [(s, config.model(s)) for s in args.specs] if args.specs else [(m.spec, m) for m in config.models]
    if not entries:
        raise ConfigError(
            "nothing to check: give model SPECs or list models in [tool.layerscope] of pyproject.toml"
            + (f" ({config.path} has none)" if config.path else ""),
            hint="e.g. layerscope check torchvision:resnet18 --input-size 224", code="LS960")
    for spec, mc in entries:
        sizes = cli_sizes or (list(mc.input_sizes) if mc else None)
        if not sizes:
            raise ConfigError(f"no input size for {spec}",
                              hint="pass --input-size 224, or set input-size for it in [tool.layerscope]",
                              code="LS960")
        budget = (mc.budget if mc else Budget()).merged(cli_budget)
        batch = args.batch_size if args.batch_size is not None else (mc.batch_size if mc else None)
        mode = args.mode or (mc.mode if mc else "eval")
        budget_lines: dict[str, int] = {}
        if mc is not None and config.path:
            anchor = (_rel(config.path), mc.line)
            budget_lines = {_BUDGET_CODES[k]: line for k, line in mc.lines.items() if k in _BUDGET_CODES}
        else:
            anchor = (spec, None)
        for size in sizes:
            plan.append((mc.spec if mc else spec, size, budget, batch, mode, anchor, mc, budget_lines))
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
    if not (path and line.isdigit()):
        path, line = source, ""
    path = _rel(path)
    if os.path.isabs(path):  # an installed library: torchvision/models/resnet.py, not /usr/lib/.../site-packages
        from ..render.table import relative_source

        path = relative_source(path, os.getcwd()) or path
    return path, int(line) if line else None


def _size_text(size: Any) -> str:
    return str(size) if isinstance(size, int) else "x".join(map(str, size))


# ----------------------------------------------------------------------------------------- running
def _execute(args: argparse.Namespace) -> tuple[list[Run], str]:
    import time

    from ..api import analyze
    from ..loading import load_model

    plan, config = _plan(args)
    fail_on = check_fail_on(args.fail_on or config.fail_on or "error")
    parse_codes(args.select)  # misuse is reported before any model is analyzed
    parse_codes(args.ignore)
    check_output(args.output)
    check_output(args.junit_xml, option="--junit-xml")
    models: dict[str, Any] = {}
    runs = []
    for spec, size, budget, batch, mode, anchor, mc, budget_lines in plan:
        start = time.perf_counter()
        select, ignore = config.codes_for(mc)  # this entry's own select/ignore, else the top-level ones
        select = parse_codes(args.select) if args.select else select
        ignore = parse_codes(args.ignore) if args.ignore else ignore
        try:  # one model that cannot be loaded does not hide the others' findings
            with user_code():
                if spec not in models:
                    try:
                        models[spec] = load_model(spec, base_dir=mc.base_dir if mc else None)
                    except ModelLoadError as exc:
                        models[spec] = exc
                if isinstance(models[spec], ModelLoadError):
                    raise models[spec]
                # the selection goes into analyze(): analyzers whose every code is deselected do not run
                report = analyze(models[spec], input_size=size, batch_size=batch, mode=mode,
                                 full_shape=getattr(args, "full_shape", False), select=select, ignore=ignore)
        except ModelLoadError as exc:
            where = f" ({mc.where} of {_rel(config.path)})" if mc is not None and config.path else ""
            runs.append(Run(spec, size, [], {"status": "load-failed", "error_code": exc.code,
                                             "error": exc.message + where, "hint": exc.hint},
                            anchor, exc, time.perf_counter() - start, budget_lines))
            continue
        found = list(report.diagnostics) + budget_diagnostics(report, budget)
        if getattr(args, "max_train_memory", None) is not None and report.ok:
            found += _train_budget(models[spec], size, batch, args)
        found = filter_codes(found, select=select, ignore=ignore)  # the budgets (LS5xx) and LS506
        if report.status == "failed" and not any(d.severity == "error" for d in found):
            # a failed trace always says why: never a silent "failed" that passes the gate
            from ..diagnostics import make

            found.insert(0, make("LS100", "the forward pass did not produce an output, and no diagnostic says why",
                                 hint="rerun with `layerscope analyze` to see the table; report it if the model "
                                      "runs in eager mode", severity="error"))
        runs.append(Run(spec, size, found, {
            "status": report.status, "total_params": report.total_params, "total_macs": report.total_macs,
            "activation_bytes": report.activation_bytes, "ok": report.ok,
        }, anchor, None, time.perf_counter() - start, budget_lines))
    return runs, fail_on


def _follows(d: Diagnostic) -> bool:
    return bool(d.data.get("follows_error"))


def _message(d: Diagnostic) -> str:
    return d.text


def _train_budget(model: Any, size: Any, batch: int | None, args: argparse.Namespace) -> list[Diagnostic]:
    from ..check import human
    from ..diagnostics import make
    from ..training import training_cost

    limit = parse_quantity(args.max_train_memory, what="--max-train-memory")
    cost = training_cost(model, input_size=size, batch_size=batch, optimizer=args.optimizer,
                         precision=args.precision)
    if cost.peak_bytes <= limit:
        return []
    b = cost.breakdown
    return [make("LS506", f"one training step ({args.optimizer}, {args.precision}, batch {cost.batch_size}) peaks "
                          f"at {human(cost.peak_bytes, 'B')}, over the budget of {human(limit, 'B')} "
                          f"(activations {human(b['activations'], 'B')}, model states "
                          f"{human(cost.model_state_bytes, 'B')})",
                 hint="lower the batch size (layerscope train-cost --memory gives the largest that fits), use "
                      "bf16-mixed, or checkpoint the blocks that save the most activations",
                 value=cost.peak_bytes, limit=limit)]


def _location(run: Run, d: Diagnostic) -> tuple[str, int | None]:
    path, line = _split_source(d.source)
    if path is None:
        if d.code in run.budget_lines:
            return run.anchor[0], run.budget_lines[d.code]
        return run.anchor
    return path, line


# ----------------------------------------------------------------------------------------- formats
def format_text(runs: list[Run], fail_on: str, *, hints: bool = True) -> str:
    lines = []
    for run in runs:
        if run.error is not None:
            path, line = run.anchor
            where = f"{path}:{line}" if line is not None else path
            lines.append(f"{where}: {run.error.code} error: {run.summary['error']} [{run.spec}: not loaded]")
            if hints and run.error.hint:
                lines.append(f"    hint: {run.error.hint}")
            continue
        for d in run.findings:
            path, line = _location(run, d)
            where = f"{path}:{line}" if line is not None else path
            module = f" {d.module}" if d.module else ""
            lines.append(f"{where}: {d.code} {d.severity}{module}: {_message(d)} "
                         f"[{run.spec} @ {_size_text(run.input_size)}]")
            if hints and d.hint:
                lines.append(f"    hint: {d.hint}")
    lines.append(_summary_line(runs, fail_on))
    return "\n".join(lines) + "\n"


def _summary_line(runs: list[Run], fail_on: str) -> str:
    allf = [d for r in runs for d in r.findings]
    c = counts(allf)
    bad = sum(at_or_above(d, fail_on) for d in allf)
    following = sum(_follows(d) and d.severity == "error" for d in allf)
    models = len({r.spec for r in runs})
    not_loaded = len({r.spec for r in runs if r.load_failed})
    failed = []
    if bad:
        failed.append(f"{bad} at or above {fail_on}")
    if not_loaded:
        failed.append(f"{not_loaded} model(s) not loaded")
    verdict = f"FAILED ({', '.join(failed)})" if failed else "passed"
    errors = f"{c['error']} error(s)" + (f" ({following} following an earlier one)" if following else "")
    return (f"layerscope check: {models} model(s), {len(runs)} run(s): {errors}, "
            f"{c['warning']} warning(s), {c['info']} info: {verdict}")


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def _in_repo(path: str) -> bool:
    """A file under the current folder (the checkout), where an annotation can be placed."""
    return os.path.isfile(path) and not os.path.isabs(path) and not path.startswith("..")


def format_github(runs: list[Run], fail_on: str) -> str:
    """GitHub Actions workflow commands: ``::error file=F,line=L,title=T::message``."""
    level = {"error": "error", "warning": "warning", "info": "notice"}
    lines = []
    for run in runs:
        if run.error is not None:
            path, line = run.anchor
            props = [f"file={_gh_escape(path, True)}"] if path and _in_repo(path) else []
            if props and line is not None:
                props.append(f"line={line}")
            props.append(f"title={_gh_escape(run.error.code + ' model not loaded', True)}")
            msg = f"{run.summary['error']} [{run.spec}]" + (f"\nhint: {run.error.hint}" if run.error.hint else "")
            lines.append(f"::error {','.join(props)}::{_gh_escape(msg)}")
            continue
        for d in run.findings:
            path, line = _location(run, d)
            props = []
            if path and _in_repo(path):  # GitHub can only place annotations on files of the repository
                props.append(f"file={_gh_escape(path, True)}")
                if line is not None:
                    props.append(f"line={line}")
            title = f"{d.code} {d.module}" if d.module else d.code
            props.append(f"title={_gh_escape(title, True)}")
            msg = f"{_message(d)} [{run.spec} @ {_size_text(run.input_size)}]" + (f"\nhint: {d.hint}" if d.hint else "")
            lines.append(f"::{level.get(d.severity, 'notice')} {','.join(props)}::{_gh_escape(msg)}")
    lines.append(_summary_line(runs, fail_on))
    return "\n".join(lines) + "\n"


def format_json(runs: list[Run], fail_on: str, code: int) -> str:
    findings = []
    for run in runs:
        for d in run.findings:
            path, line = _location(run, d)
            findings.append({"spec": run.spec, "input_size": run.input_size, "path": path, "line": line,
                             "fails": at_or_above(d, fail_on), "follows_error": _follows(d), **d.to_dict()})
    allf = [d for r in runs for d in r.findings]
    out = {
        "findings": findings,
        "runs": [{"spec": r.spec, "input_size": r.input_size, **r.summary,
                  "findings": len(r.findings)} for r in runs],
        "summary": {**counts(allf), "failing": sum(at_or_above(d, fail_on) for d in allf), "fail_on": fail_on,
                    "not_loaded": sorted({r.spec for r in runs if r.load_failed}), "exit_code": code},
    }
    return json.dumps(out, indent=1, default=str) + "\n"


def _junit_name(spec: str) -> str:
    """A JUnit classname without dots (Jenkins and GitLab split ``a.b`` into package and class)."""
    return spec.replace(".", "_")


def format_junit(runs: list[Run], fail_on: str) -> str:
    """JUnit XML: one testsuite per model, one testcase per input size. A testcase holds at most one
    ``<failure>`` (the Ant/Surefire schema): its message names the first finding at or above ``fail_on`` and
    its text lists them all; the other findings go to ``<system-out>``. A model that could not be loaded is
    a testcase with an ``<error>``. Every testcase has its ``time``."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="layerscope check")
    total = failures = errors = 0
    seconds = 0.0
    by_spec: dict[str, list[Run]] = {}
    for r in runs:
        by_spec.setdefault(r.spec, []).append(r)
    for spec, spec_runs in by_spec.items():
        suite = ET.SubElement(root, "testsuite", name=spec)
        s_fail = s_err = 0
        s_time = 0.0
        for r in spec_runs:
            case = ET.SubElement(suite, "testcase", classname=_junit_name(spec),
                                 name=f"input {_size_text(r.input_size)}", time=f"{r.seconds:.3f}")
            s_time += r.seconds
            if r.error is not None:
                e = ET.SubElement(case, "error", message=f"{r.error.code} {r.summary['error']}"[:500],
                                  type=r.error.code)
                e.text = f"{r.error.code}: {r.summary['error']}\nhint: {r.error.hint}"
                s_err += 1
                continue
            bad = [d for d in r.findings if at_or_above(d, fail_on)]
            if bad:
                first = bad[0]
                more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
                f = ET.SubElement(case, "failure", message=f"{first.code} {_message(first)}"[:500] + more,
                                  type=first.code)
                texts = []
                for d in bad:
                    path, line = _location(r, d)
                    where = f"{path}:{line}" if line is not None else path
                    texts.append(f"{where}: {d.code} {d.severity} {d.module or ''}: {_message(d)}\nhint: {d.hint}")
                f.text = "\n\n".join(texts)
            rest = [d for d in r.findings if not at_or_above(d, fail_on)]
            if rest:
                out = ET.SubElement(case, "system-out")
                out.text = "\n".join(str(d) for d in rest)
            s_fail += 1 if bad else 0
        suite.set("tests", str(len(spec_runs)))
        suite.set("failures", str(s_fail))
        suite.set("errors", str(s_err))
        suite.set("time", f"{s_time:.3f}")
        total += len(spec_runs)
        failures += s_fail
        errors += s_err
        seconds += s_time
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    root.set("time", f"{seconds:.3f}")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def exit_code(runs: list[Run], fail_on: str) -> int:
    """2 when a model could not be loaded (after reporting the others), 1 on findings at or above
    ``fail_on`` or a failed trace, else 0."""
    if any(r.load_failed for r in runs):
        return 2
    if any(at_or_above(d, fail_on) for r in runs for d in r.findings):
        return 1
    return 1 if any(r.summary.get("status") == "failed" for r in runs) else 0


def run(args: argparse.Namespace) -> int:
    runs, fail_on = _execute(args)
    code = exit_code(runs, fail_on)
    if args.format == "github":
        text = format_github(runs, fail_on)
    elif args.format == "json":
        text = format_json(runs, fail_on, code)
    elif args.format == "junit":
        text = format_junit(runs, fail_on)
    else:
        text = format_text(runs, fail_on, hints=not args.no_hints)
    written = []
    for path, content, option in ((args.output, text, "-o"),
                                  (args.junit_xml, format_junit(runs, fail_on) if args.junit_xml else "",
                                   "--junit-xml")):
        if path:
            with writing(path, option=option):
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(content)
            written.append(path)
    if not args.output:
        sys.stdout.write(text)
    for r in {r.spec: r for r in runs if r.error is not None}.values():  # also where a person looks for errors
        if getattr(args, "debug", False):
            import traceback

            traceback.print_exception(r.error)
        print(f"layerscope: error {r.error.code}: {r.summary['error']}", file=sys.stderr)
        if r.error.hint:
            print(f"  hint: {r.error.hint}", file=sys.stderr)
    if written:
        summary = _summary_line(runs, fail_on)
        print((summary + " " if args.output else "") + f"(written to {' and '.join(written)})",
              file=sys.stdout if args.output else sys.stderr)
    return code
