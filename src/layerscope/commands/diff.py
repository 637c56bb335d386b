"""``layerscope diff A B``: what changed between two versions of a model (SPECs or saved JSON reports)."""

from __future__ import annotations

import argparse
import json

from ._common import emit, input_size_from, parse_size

NAME = "diff"
HELP = "compare two versions of a model layer by layer: added, removed, changed shapes, params and MACs deltas"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", metavar="A", help="model SPEC or a saved report (layerscope analyze ... -o a.json)")
    parser.add_argument("b", metavar="B", help="model SPEC or a saved report")
    parser.add_argument("--input-size", "-s", nargs="+", type=str, default=None, metavar="SIZE",
                        help="input size for SPECs (not needed for saved .json reports)")
    parser.add_argument("--input-size-b", nargs="+", type=str, default=None, metavar="SIZE",
                        help="a different input size for B")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size (default 1)")
    parser.add_argument("--mode", choices=["eval", "train"], default="eval")
    parser.add_argument("-o", "--output", default=None, help="write the diff to this file (.md, .json, .csv, .txt)")
    parser.add_argument("--format", choices=["text", "md", "json", "csv"], default=None)


def run(args: argparse.Namespace) -> int:
    from ..diff import diff
    from ..render.files import format_for_path

    size = input_size_from(args) if args.input_size else None
    size_b = None
    if args.input_size_b:
        sizes = [parse_size(s) for s in args.input_size_b]
        size_b = sizes[0] if len(sizes) == 1 else sizes
    result = diff(args.a, args.b, input_size=size, input_size_b=size_b, batch_size=args.batch_size, mode=args.mode)
    fmt = args.format or format_for_path(args.output)
    if fmt == "md":
        text = result.to_markdown()
    elif fmt == "json":
        text = json.dumps(result.to_dict(), indent=1) + "\n"
    elif fmt == "csv":
        text = result.table.to_csv(index=False, lineterminator="\n")
    else:
        text = result.to_text()
    emit(text, args.output)
    return 0
