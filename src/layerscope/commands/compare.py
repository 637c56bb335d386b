"""``layerscope compare SPEC... --input-size 224``: the classic comparison table and a Pareto scatter."""

from __future__ import annotations

import argparse
import os

from ._common import add_input_arguments, check_output, emit, input_size_from, user_code, writing

NAME = "compare"
HELP = "compare several models: params, MACs, FLOPs, activation memory, receptive field, depth"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", nargs="+", metavar="SPEC",
                        help="models (pkg.mod:attr, file.py:attr, torchvision:NAME, timm:NAME) or saved .json reports")
    add_input_arguments(parser)
    parser.add_argument("--names", nargs="+", default=None, help="row labels, one per SPEC")
    parser.add_argument("-o", "--output", default=None,
                        help="write the table (.md also writes the params-vs-MACs scatter beside it, .csv, .json)")
    parser.add_argument("--format", choices=["text", "md", "csv", "json"], default=None,
                        help="output format (default: text on a terminal, else from the file extension)")
    parser.add_argument("--plot", default=None, help="write the params-vs-MACs scatter to this PNG")


def _labels(specs: list[str]) -> list[str]:
    short = [s.rpartition(":")[2] if ":" in s else os.path.splitext(os.path.basename(s))[0] for s in specs]
    # two specs with the same attribute (examples/resnet.py:resnet50, torchvision:resnet50) keep their prefix
    return [full if short.count(s) > 1 else s for s, full in zip(short, specs)]


def _load_all(specs: list[str], names: list[str], size, args) -> tuple[list, list[str], list[dict]]:
    """Analyze every SPEC that loads; the ones that do not are kept as failure rows (one bad SPEC does not
    hide the others)."""
    from ..api import analyze
    from ..compare import _to_report
    from ..errors import ModelLoadError
    from ..loading import load_model
    from ._progress import progress_bar

    progress = progress_bar(len(specs))
    reports, labels, failed = [], [], []
    for i, (spec, name) in enumerate(zip(specs, names)):
        try:
            with user_code():
                if spec.endswith(".json") and ":" not in spec:
                    report = _to_report(spec, size, {})
                else:
                    report = analyze(load_model(spec), input_size=size, batch_size=args.batch_size,
                                     mode=args.mode, full_shape=args.full_shape)
        except ModelLoadError as exc:
            failed.append({"model": name, "spec": spec, "status": "load-failed", "error_code": exc.code,
                           "error": exc.message, "hint": exc.hint})
        else:
            reports.append(report)
            labels.append(name)
        if progress is not None:
            progress(i + 1, len(specs), name)
    return reports, labels, failed


def run(args: argparse.Namespace) -> int:
    import sys

    from ..compare import Comparison
    from ..errors import ConfigError
    from ..render.files import format_for_path
    from ..render.plots import save_figure

    if args.names is not None and len(args.names) != len(args.specs):
        raise ConfigError(f"{len(args.names)} names for {len(args.specs)} models", hint="give one name per model",
                          code="LS964")
    check_output(args.output)
    check_output(args.plot, option="--plot")
    names = args.names or _labels(args.specs)
    size = input_size_from(args)
    reports, labels, failed = _load_all(args.specs, names, size, args)
    cmp = Comparison(tuple(labels), tuple(reports))
    fmt = args.format or format_for_path(args.output)
    plot_name = plot_path = None
    if reports and (args.plot or (args.output and fmt == "md")):
        from .scale import plot_path_for

        plot_path = args.plot or plot_path_for(args.output, "_pareto.png")
        with writing(plot_path, option="--plot" if args.plot else "-o"):
            save_figure(cmp.plot().figure, plot_path)
        plot_name = (os.path.relpath(plot_path, os.path.dirname(os.path.abspath(args.output)))
                     if args.output else plot_path)
    if fmt == "md":
        text = cmp.to_markdown(plot=plot_name)
        if failed:
            text += "\nNot loaded:\n\n" + "".join(f"- {f['model']} (`{f['spec']}`): {f['error_code']} {f['error']}\n"
                                                  for f in failed)
    elif fmt == "csv":
        text = _with_failed(cmp.table, failed).to_csv(index=False, lineterminator="\n")
    elif fmt == "json":
        text = _with_failed(cmp.table, failed).to_json(orient="records", indent=1) + "\n"
    else:
        cols = ["model", "params_M", "macs_G", "flops_G", "activation_MiB", "rf", "depth", "status"]
        text = (cmp.table[cols].to_string(index=False) + "\n") if reports else ""
        text += "".join(f"{f['model']}: not loaded: {f['error_code']} {f['error']}\n" for f in failed)
    emit(text, args.output, plot_path)
    for f in failed:
        print(f"layerscope: error {f['error_code']}: {f['spec']}: {f['error']}", file=sys.stderr)
        if f["hint"]:
            print(f"  hint: {f['hint']}", file=sys.stderr)
    if failed:
        return 2
    # a failed trace (status "failed") is a finding like a shape error
    return 0 if all(r.ok and r.status != "failed" for r in cmp.reports) else 1


def _with_failed(table, failed: list[dict]):
    """The comparison table with one row per model that could not be loaded (status ``load-failed``)."""
    if not failed:
        return table
    import pandas as pd

    extra = pd.DataFrame([{"model": f["model"], "status": f["status"], "error_code": f["error_code"],
                           "error": f["error"]} for f in failed])
    return pd.concat([table, extra], ignore_index=True) if len(table) else extra
