"""A minimal progress bar on stderr for commands that analyze many models (the library itself is silent)."""

from __future__ import annotations

import sys
from typing import Callable, TextIO

#: below this many models no bar is drawn (a couple of models finish before a bar would help)
THRESHOLD = 3


def progress_bar(total: int, *, stream: TextIO | None = None, width: int = 24,
                 threshold: int = THRESHOLD) -> Callable[[int, int, str], None] | None:
    """A ``progress(done, total, name)`` callback drawing ``[#####     ] 3/8 resnet50`` on stderr, or None when
    ``total <= threshold``. On a terminal the bar redraws in place; otherwise one line per step."""
    if total <= threshold:
        return None
    out = stream if stream is not None else sys.stderr
    tty = hasattr(out, "isatty") and out.isatty()

    def step(done: int, n: int, name: str) -> None:
        filled = int(width * done / max(n, 1))
        line = f"[{'#' * filled}{' ' * (width - filled)}] {done}/{n} {name}"
        if tty:
            out.write("\r" + line.ljust(width + 40) + ("\n" if done >= n else ""))
        else:
            out.write(line + "\n")
        out.flush()

    return step
