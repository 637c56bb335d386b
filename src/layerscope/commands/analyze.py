"""``layerscope analyze SPEC --input-size 224``: the per-layer table and totals, or a written report."""

from __future__ import annotations

import argparse
import sys

from ._common import add_input_arguments, input_size_from

NAME = "analyze"
HELP = "analyze one model: per-layer shapes, formulas, params, MACs and diagnostics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="pkg.module:attr, path/to/file.py:attr, torchvision:NAME or timm:NAME")
    add_input_arguments(parser)
    parser.add_argument("--depth", type=int, default=None, help="show layers down to this module depth")
    parser.add_argument("-o", "--output", default=None, help="write the report to this file")
    parser.add_argument("--format", choices=["text", "md", "html", "json", "csv"], default=None,
                        help="output format (default: text on a terminal, else from the file extension)")


def _format_for(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    if args.output:
        ext = args.output.rsplit(".", 1)[-1].lower()
        return {"md": "md", "markdown": "md", "html": "html", "htm": "html", "json": "json", "csv": "csv"}.get(
            ext, "text")
    return "text"


def render(report, fmt: str, args: argparse.Namespace) -> str:
    if fmt == "md":
        return report.to_markdown(max_depth=args.depth)
    if fmt == "html":
        from ..render.html import report_html

        return report_html(report)
    if fmt == "json":
        return report.to_json(indent=1)
    if fmt == "csv":
        return report.table.to_csv(index=False)
    return report.to_text(max_depth=args.depth)


def run(args: argparse.Namespace) -> int:
    from ..api import analyze
    from ..loading import load_model

    model = load_model(args.spec)
    report = analyze(model, input_size=input_size_from(args), batch_size=args.batch_size, mode=args.mode)
    fmt = _format_for(args)
    text = render(report, fmt, args)
    if args.output:
        import os

        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"wrote {args.output}: {report!r}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0 if report.ok else 1
