"""``layerscope analyze SPEC --input-size 224``: the per-layer table and totals, or a written report."""

from __future__ import annotations

import argparse
import sys

from ._common import add_input_arguments, check_output, input_size_from, non_negative_int, positive_int, user_code, \
    writing
from ._tokens import add_token_arguments, analyze_inputs, command_line_parts

NAME = "analyze"
HELP = "analyze one model: per-layer shapes, formulas, params, MACs and diagnostics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="pkg.module:attr, path/to/file.py:attr, torchvision:NAME, timm:NAME or "
                                     "hf:CONFIG[?key=value&...]")
    add_input_arguments(parser, required=False)  # or --tokens/--kwarg, or the model's own default input
    add_token_arguments(parser)
    parser.add_argument("--depth", type=non_negative_int, default=None,
                        help="group layers deeper than this module depth under their parent (its row sums them)")
    parser.add_argument("--no-plots", action="store_true", help="with -o REPORT.md/.html: do not write the PNG plots")
    parser.add_argument("--graph-depth", type=non_negative_int, default=2,
                        help="module depth of the layer-graph plot (default 2)")
    parser.add_argument("--top-k", type=positive_int, default=10, help="layers in the top-MACs/params tables and plot")
    parser.add_argument("--no-fold", action="store_true",
                        help="list every block of a run of identical blocks (default: one '32 x Block' row)")
    parser.add_argument("-o", "--output", default=None, help="write the report to this file")
    parser.add_argument("--format", choices=["text", "md", "html", "json", "csv"], default=None,
                        help="output format (default: text on a terminal, else from the file extension)")
    from .train_cost import add_training_arguments

    parser.add_argument("--train", action="store_true",
                        help="add a Training section: one training step's memory timeline and saved activations")
    add_training_arguments(parser)


def _format_for(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    if args.output:
        ext = args.output.rsplit(".", 1)[-1].lower()
        return {"md": "md", "markdown": "md", "html": "html", "htm": "html", "json": "json", "csv": "csv"}.get(
            ext, "text")
    return "text"


def render(report, fmt: str, args: argparse.Namespace) -> str:
    from ..render.files import render_report

    return render_report(report, fmt, max_depth=args.depth, top_k=getattr(args, "top_k", 10),
                         fold=not getattr(args, "no_fold", False), graph_depth=getattr(args, "graph_depth", 2))


def _command_line(args: argparse.Namespace) -> str:
    """The command that regenerates the report, for its header (no absolute paths, so reports are portable)."""
    parts = ["layerscope analyze", args.spec, *(["--input-size", *args.input_size] if args.input_size else []),
             *command_line_parts(args)]
    if args.batch_size:
        parts += ["--batch-size", str(args.batch_size)]
    if getattr(args, "full_shape", False):
        parts += ["--full-shape"]
    if args.mode != "eval":
        parts += ["--mode", args.mode]
    if args.depth is not None:
        parts += ["--depth", str(args.depth)]
    # the options that change what the report shows (the HTML command a big graph's caption gives is this one)
    if getattr(args, "graph_depth", 2) != 2:
        parts += ["--graph-depth", str(args.graph_depth)]
    if getattr(args, "top_k", 10) != 10:
        parts += ["--top-k", str(args.top_k)]
    if getattr(args, "no_fold", False):
        parts += ["--no-fold"]
    if getattr(args, "train", False):
        parts += ["--train", "--optimizer", args.optimizer, "--precision", args.precision]
        if getattr(args, "memory", None):
            parts += ["--memory", args.memory]
    return " ".join(parts + ["-o", args.output])


def run(args: argparse.Namespace) -> int:
    from ..api import analyze
    from ..loading import load_model

    check_output(args.output)  # before the analysis, which may take a while
    from ..check import parse_quantity
    from ..errors import ConfigError

    if args.memory is not None and not args.train:
        raise ConfigError("--memory is the device memory of the training step: it needs --train",
                          hint="add --train (the largest batch that fits goes in the Training section), or run "
                               "layerscope train-cost SPEC -s SIZE --memory " + args.memory)
    if args.memory is not None:
        parse_quantity(args.memory, what="--memory")  # a bad quantity fails before the analysis
    if args.train and _format_for(args) == "csv":
        raise ConfigError("--train adds a Training section to text, md, html and json output; csv is the per-layer "
                          "table",
                          hint="write -o report.md, report.html or report.json, or run layerscope train-cost SPEC "
                               "-s SIZE --format json")
    size = input_size_from(args) if args.input_size else None
    if sys.stderr.isatty():  # big models take seconds: say what is happening (not in logs or pipes)
        at = " ".join(args.input_size or []) or " ".join(command_line_parts(args)) or "its own default input"
        print(f"layerscope: analyzing {args.spec} at {at} ...", file=sys.stderr, flush=True)
    with user_code():
        model = load_model(args.spec)
        report = analyze(model, **analyze_inputs(args, size), full_shape=args.full_shape)
    fmt = _format_for(args)
    if args.output:
        from ..render.files import write_report

        with writing(args.output):
            written = write_report(report, args.output, fmt=fmt, max_depth=args.depth, plots=not args.no_plots,
                                   graph_depth=args.graph_depth, top_k=args.top_k, title=args.spec,
                                   command=_command_line(args), fold=not args.no_fold)
            if args.train and report.ok and fmt == "md":
                written += _append_training(model, args)
            elif args.train and report.ok and fmt in ("html", "json"):
                _add_training(model, args, fmt)
        print(f"wrote {', '.join(written)}: {report!r}")
    else:
        text = render(report, fmt, args)
        if args.train and report.ok and fmt == "text":
            from .train_cost import format_cost

            cost = _training(model, args)
            best = _fits(cost, args)
            text = text.rstrip("\n") + "\n\n" + format_cost(cost, args.top_k, best and best[1], args.memory)
        elif args.train and report.ok and fmt == "json":
            cost = _training(model, args)
            text = _json_with_training(text, cost, _fits(cost, args))
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        rows = len(report.nodes)
        if fmt == "text" and args.depth is None and rows > LONG_TABLE:
            print(f"layerscope: {rows} rows; --depth 1 or --depth 2 folds them into their modules, "
                  f"-o report.md writes a report with plots", file=sys.stderr)
    return 0 if report.ok else 1


#: a text table longer than this gets a hint about ``--depth`` (on stderr, so piped output is unchanged)
LONG_TABLE = 80


def _training(model, args: argparse.Namespace):
    from ..training import training_cost

    return training_cost(model, input_size=input_size_from(args), batch_size=args.batch_size,
                         optimizer=args.optimizer, precision=args.precision, checkpoint=args.checkpoint)


def _fits(cost, args: argparse.Namespace) -> tuple[str, int] | None:
    """``(--memory as written, the largest batch that fits it)``, or None without --memory."""
    return None if args.memory is None else (args.memory, cost.max_batch_size(args.memory))


def _json_with_training(text: str, cost, fits: tuple[str, int] | None = None) -> str:
    """The JSON report with the training step under ``"training"`` (``TrainingCost.to_dict``; a reader of
    reports, ``Report.from_json``, ignores it)."""
    import json

    from .train_cost import cost_dict

    data = json.loads(text)
    data["training"] = cost_dict(cost, *(fits or ()))
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def _add_training(model, args: argparse.Namespace, fmt: str) -> None:
    """Put the training step into the written HTML page (a section, the timeline inline) or JSON report."""
    cost = _training(model, args)
    with open(args.output, encoding="utf-8") as fh:
        text = fh.read()
    if fmt == "html":
        from ..render.html import training_section_html, with_section

        text = with_section(text, training_section_html(cost, top_k=args.top_k, plots=not args.no_plots,
                                                        fits=_fits(cost, args)))
    else:
        text = _json_with_training(text, cost, _fits(cost, args))
    with open(args.output, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def _append_training(model, args: argparse.Namespace) -> list[str]:
    """Append the Training section (and its timeline plot beside the report) to the written markdown."""
    import os

    from ..render.training import plot_training_memory, training_markdown

    cost = _training(model, args)
    written = []
    plot = None
    if not args.no_plots:
        from ..render.plots import save_figure

        stem = os.path.splitext(args.output)[0]
        path = save_figure(plot_training_memory(cost).figure, f"{stem}_training_memory.png")
        plot = os.path.basename(path)
        written.append(path)
    with open(args.output, "a", encoding="utf-8", newline="\n") as fh:
        fh.write("\n" + training_markdown(cost, plot=plot, top_k=args.top_k, fits=_fits(cost, args)))
    return written
