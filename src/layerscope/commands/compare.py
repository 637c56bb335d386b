"""``layerscope compare SPEC... --input-size 224``: the classic comparison table and a Pareto scatter."""

from __future__ import annotations

import argparse
import os

from ._common import add_input_arguments, emit, input_size_from

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


def run(args: argparse.Namespace) -> int:
    from ..compare import compare
    from ..render.files import format_for_path
    from ..render.plots import save_figure
    from ._progress import progress_bar

    names = args.names or _labels(args.specs)
    cmp = compare(args.specs, input_size=input_size_from(args), names=names, batch_size=args.batch_size,
                  mode=args.mode, progress=progress_bar(len(args.specs)))
    fmt = args.format or format_for_path(args.output)
    plot_name = None
    if args.plot or (args.output and fmt == "md"):
        path = args.plot or os.path.splitext(args.output)[0] + "_pareto.png"
        save_figure(cmp.plot().figure, path)
        plot_name = os.path.relpath(path, os.path.dirname(os.path.abspath(args.output))) if args.output else path
    if fmt == "md":
        text = cmp.to_markdown(plot=plot_name)
    elif fmt == "csv":
        text = cmp.to_csv()
    elif fmt == "json":
        text = cmp.table.to_json(orient="records", indent=1) + "\n"
    else:
        cols = ["model", "params_M", "macs_G", "flops_G", "activation_MiB", "rf", "depth", "status"]
        text = cmp.table[cols].to_string(index=False) + "\n"
    emit(text, args.output, (args.plot or plot_name) if plot_name else None)
    return 0 if all(r.ok for r in cmp.reports) else 1
