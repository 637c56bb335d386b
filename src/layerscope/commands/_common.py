"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any, Iterator

from ..errors import ConfigError


def parse_size(text: str) -> Any:
    """``224`` -> 224; ``3x224x224`` or ``3,224,224`` -> (3, 224, 224) (the grammar: :mod:`layerscope.sizes`)."""
    from ..sizes import parse_size as _parse

    return _parse(text)


def _int_at_least(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an int") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} must be >= {minimum}")
    return value


def positive_int(text: str) -> int:
    """argparse type for counts that must be >= 1 (``--top-k``, ``--batch-size``, ``--resolution``)."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type for depths that may be 0."""
    return _int_at_least(text, 0)


SIZE_HELP = ("224 (a 1x3x224x224 batch), CxHxW (batch added), any other shape as written, batch first "
             "(1x3x224x224, 2x10); several values for several inputs")


def add_input_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("--input-size", "-s", nargs="+", type=str, required=required, metavar="SIZE",
                        help=SIZE_HELP)
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="batch size where the size lacks one (default 1)")
    parser.add_argument("--full-shape", action="store_true",
                        help="take 3-dim sizes as written too (NxCxL, NxLxE) instead of CxHxW")
    parser.add_argument("--mode", choices=["eval", "train"], default="eval",
                        help="run the model in eval (default) or train mode")


def input_size_from(args: argparse.Namespace, attr: str = "input_size") -> Any:
    """The ``input_size`` for the Python API from ``-s V [V ...]``: several values are several inputs."""
    from ..sizes import cli_input_size

    values = getattr(args, attr)
    if values is None:
        return None
    return cli_input_size(values, batch_size=getattr(args, "batch_size", None),
                          where="--" + attr.replace("_", "-"))


def check_output(path: str | None, *, option: str = "-o") -> None:
    """Refuse an output path that cannot be written, before the (possibly long) analysis runs: a folder, a
    name ending in a separator, a parent that is a file, a place without write permission."""
    if not path:
        return
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        raise ConfigError(f"cannot write {option} {path}: it is a folder",
                          hint=f"give a file name, e.g. {option} {os.path.join(path, 'report.md')}", code="LS970")
    folder = os.path.dirname(os.path.abspath(path))
    probe = folder
    while not os.path.exists(probe):  # the folders that emit() will create
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise ConfigError(f"cannot write {option} {path}: {probe} is a file, not a folder",
                          hint="choose another output path", code="LS970")
    if probe != folder:
        if not os.access(probe, os.W_OK):
            raise ConfigError(f"cannot write {option} {path}: no permission to create folders in {probe}",
                              hint="choose another output path", code="LS970")
        return
    existed = os.path.exists(path)
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot write {option} {path}: {exc.strerror or exc}", hint="choose another output "
                          "path", code="LS970") from exc
    if not existed:
        os.remove(path)


@contextlib.contextmanager
def writing(path: str, *, option: str = "-o") -> Iterator[None]:
    """Turn an OSError while writing ``path`` into the coded LS970 (never LS900)."""
    try:
        yield
    except OSError as exc:
        raise ConfigError(f"cannot write {option} {path}: {exc.strerror or exc}", hint="choose another output path",
                          code="LS970") from exc


@contextlib.contextmanager
def user_code() -> Iterator[None]:
    """While importing, building and tracing the user's model: its ``print()`` goes to stderr, so that stdout
    carries only layerscope's output (json, csv, junit, github annotations), and torch's deprecation notices
    about ``torch.jit`` (raised when the model script builds a ScriptModule) are not repeated on every run."""
    import warnings

    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit.*")
        yield


def emit(text: str, output: str | None, plot: str | None = None) -> None:
    """Write ``text`` to ``output`` (creating its folder) or to stdout, and say which files were written."""
    if output:
        with writing(output):
            os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
            with open(output, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
        print(f"wrote {output}" + (f" and {plot}" if plot else ""))
    else:
        sys.stdout.write(text)
        if plot:
            print(f"wrote {plot}")
