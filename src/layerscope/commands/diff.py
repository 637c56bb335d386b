"""``layerscope diff A B``: what changed between two versions of a model (SPECs or saved JSON reports)."""

from __future__ import annotations

import argparse
import json

from ._common import check_output, emit, input_size_from, positive_int, user_code

NAME = "diff"
HELP = "compare two versions of a model layer by layer: added, removed, changed shapes, params and MACs deltas"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", metavar="A", help="model SPEC or a saved report (layerscope analyze ... -o a.json)")
    parser.add_argument("b", metavar="B", help="model SPEC or a saved report")
    parser.add_argument("--input-size", "-s", nargs="+", type=str, default=None, metavar="SIZE",
                        help="input size for SPECs (not needed for saved .json reports): 224, CxHxW (batch added), "
                             "any other shape as written; several values for several inputs")
    parser.add_argument("--input-size-b", nargs="+", type=str, default=None, metavar="SIZE",
                        help="a different input size for B")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="batch size where the size lacks one (default 1)")
    parser.add_argument("--full-shape", action="store_true",
                        help="take 3-dim sizes as written too (NxCxL, NxLxE) instead of CxHxW")
    parser.add_argument("--mode", choices=["eval", "train"], default="eval")
    parser.add_argument("-o", "--output", default=None, help="write the diff to this file (.md, .json, .csv, .txt)")
    parser.add_argument("--format", choices=["text", "md", "json", "csv"], default=None)


def run(args: argparse.Namespace) -> int:
    from ..diff import diff
    from ..render.files import format_for_path

    import sys

    check_output(args.output)
    size = input_size_from(args)
    size_b = input_size_from(args, "input_size_b")
    with user_code():
        result = diff(args.a, args.b, input_size=size, input_size_b=size_b, batch_size=args.batch_size,
                      mode=args.mode, full_shape=args.full_shape)
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
    for side, n, code, msg, status in result.problems:  # also on stderr: the deltas of a broken model mislead
        name = result.name_a if side == "A" else result.name_b
        print(f"layerscope diff: {side} ({name}) has {n} error(s), status {status}: first {code} {msg}",
              file=sys.stderr)
    return 0 if result.ok else 1
