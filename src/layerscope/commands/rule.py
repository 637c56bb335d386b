"""``layerscope rule LS101``: what a code means, why it matters, an example and how to fix it (as ``ruff rule``);
``layerscope rule --all``: the whole code table; both name the analyzer that declares a finding's code."""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from ._common import emit

NAME = "rule"
HELP = "explain a diagnostic or error code (e.g. layerscope rule LS101), or list them all with --all"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("code", nargs="?", default=None, metavar="CODE", help="a code such as LS101 or LS913")
    parser.add_argument("--all", action="store_true", help="list every code: code, kind, severity, title [analyzer]")


def run(args: argparse.Namespace) -> int:
    from ..analysis import emitter
    from ..codes import RETIRED, TABLE, explain

    def by(code: str) -> str | None:
        """The analyzer that declares ``code`` (None: budgets, exceptions)."""
        spec = emitter(code)
        return spec.name if spec is not None else None

    if args.all:
        lines = []
        for c in TABLE:
            name = by(c.code)
            lines.append(f"{c.code}  {c.kind:<10}  {c.severity:<7}  {c.title}"
                         + (f"  [{name.removeprefix('layerscope.analysis.')}]" if name else ""))
        lines += [f"{code}  retired: {why}" for code, why in RETIRED.items()]
        emit("\n".join(lines) + "\n", None)
        return 0
    if args.code is None:
        raise ConfigError("which code?", hint="e.g. layerscope rule LS101, or layerscope rule --all", code="LS960")
    emit(explain(args.code, analyzer=by(args.code.strip().upper())), None)
    return 0
