"""The command line: ``main(argv) -> exit code``. The only module that prints."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from .commands import COMMANDS
from .errors import LayerscopeError


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="layerscope", description="Static architecture analysis for PyTorch.")
    parser.add_argument("--version", action="version", version=f"layerscope {__version__}")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks of failures")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        mod = importlib.import_module(f".commands.{name}", __package__)
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show Python tracebacks of failures")
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on misuse, 0 on --help
        return int(exc.code or 0)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args))
    except LayerscopeError as exc:
        if getattr(args, "debug", False):
            import traceback

            traceback.print_exc()
        print(f"layerscope: error {exc.code}: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("layerscope: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # layerscope's commands never exit: this is the user's code; keep exit codes 0/1/2
        call = f"sys.exit({exc.code!r})" if exc.code is not None else "sys.exit()"
        code = "LS927"
        print(f"layerscope: error {code}: the model's code called {call}", file=sys.stderr)
        print("  hint: model code must not exit the process; guard scripts with `if __name__ == \"__main__\":` "
              "and raise exceptions instead", file=sys.stderr)
        return 2
    except Exception as exc:  # an unexpected failure is still a message, not a traceback
        if getattr(args, "debug", False):
            import traceback

            traceback.print_exc()
        print(f"layerscope: error LS900: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        print("  hint: rerun with --debug for the traceback and report it if it is a layerscope bug",
              file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
