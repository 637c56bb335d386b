"""CLI subcommands. Each module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.

Exit codes, the same for every command: 0 success with nothing at or above the fail level, 1 findings
(shape errors, budget overruns), 2 misuse or a model that could not be loaded.
"""

from __future__ import annotations

COMMANDS = ["analyze", "check", "compare", "diff", "scale", "rule", "train_cost"]
