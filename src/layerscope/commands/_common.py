"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..errors import ConfigError


def parse_size(text: str) -> Any:
    """``224`` -> 224; ``3x224x224`` or ``3,224,224`` -> (3, 224, 224)."""
    parts = [p for p in text.replace("x", ",").replace("X", ",").split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ConfigError(f"input size {text!r} is not an int or a shape like 3x224x224",
                          hint="e.g. --input-size 224 or --input-size 1x3x224x224", code="LS941") from None
    if not values:
        raise ConfigError("empty input size", hint="e.g. --input-size 224", code="LS941")
    return values[0] if len(values) == 1 else tuple(values)


def add_input_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("--input-size", "-s", nargs="+", type=str, required=required, metavar="SIZE",
                        help="224 (a 1x3x224x224 batch), CxHxW, NxCxHxW; several for several inputs")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size (default 1)")
    parser.add_argument("--mode", choices=["eval", "train"], default="eval",
                        help="run the model in eval (default) or train mode")


def input_size_from(args: argparse.Namespace) -> Any:
    sizes = [parse_size(s) for s in args.input_size]
    return sizes[0] if len(sizes) == 1 else sizes


def emit(text: str, output: str | None, plot: str | None = None) -> None:
    """Write ``text`` to ``output`` (creating its folder) or to stdout, and say which files were written."""
    if output:
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        with open(output, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        print(f"wrote {output}" + (f" and {plot}" if plot else ""))
    else:
        sys.stdout.write(text)
        if plot:
            print(f"wrote {plot}")
