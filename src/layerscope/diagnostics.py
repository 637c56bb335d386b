"""Findings: one dataclass and the catalogue of stable codes.

Code ranges: LS1xx shape bugs and shape facts, LS2xx counting coverage, LS3xx design lints,
LS4xx receptive field, LS5xx budgets (``layerscope check``). Exceptions use LS9xx (``layerscope.errors``).
Every code is one line of the table in :mod:`layerscope.codes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .codes import TABLE, Severity
from .graph import jsonable
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}

#: code -> (default severity, short title) of the diagnostics, from the code table (:mod:`layerscope.codes`).
#: Programs branch on codes; titles are for people.
CODES: dict[str, tuple[Severity, str]] = {c.code: (c.severity, c.title) for c in TABLE if c.kind == "diagnostic"}


@dataclass(frozen=True)
class Diagnostic:
    """One finding: a stable ``code``, its ``severity``, where (``module``, ``source``) and what to do."""

    code: str
    severity: Severity
    message: str
    hint: str = ""
    module: str | None = None
    source: str | None = None  # "path/to/file.py:LINE" of the statement, where known
    node: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return CODES.get(self.code, (self.severity, self.code))[1]

    def to_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "message": self.message, "hint": self.hint,
                "module": self.module, "source": self.source, "node": self.node, "data": jsonable(dict(self.data))}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Diagnostic":
        return cls(d["code"], d["severity"], d["message"], d.get("hint", ""), d.get("module"), d.get("source"),
                   d.get("node"), d.get("data", {}))

    @property
    def follows_error(self) -> bool:
        """True when this finding may only be a consequence of an earlier error (fix that one first)."""
        return bool(self.data.get("follows_error"))

    @property
    def text(self) -> str:
        """The message as every output format shows it: without a leading repetition of the module (which is
        shown beside it), and marked when it follows an earlier error."""
        msg = self.message
        if self.module and msg.startswith(f"{self.module}: "):
            msg = msg[len(self.module) + 2:]
        if self.follows_error:
            msg += " [follows an earlier error: may be a consequence of it, fix that one first]"
        return msg

    def __str__(self) -> str:
        where = f" {self.module}" if self.module else ""
        text = f"{self.code} {self.severity}{where}: {self.text}"
        return text + (f" (hint: {self.hint})" if self.hint else "")


def make(code: str, message: str, *, hint: str = "", module: str | None = None, source: str | None = None,
         node: int | None = None, severity: Severity | None = None, **data: Any) -> Diagnostic:
    """A diagnostic with the catalogue's default severity for ``code`` (a code not in the table is a bug)."""
    if code not in CODES:
        raise ValueError(f"{code!r} is not a diagnostic code of layerscope.codes.TABLE")
    sev = severity or CODES[code][0]
    return Diagnostic(code, sev, message, hint, module, source, node, data)
