"""Findings: one dataclass and the catalogue of stable codes.

Code ranges: LS1xx shape bugs and shape facts, LS2xx counting coverage, LS3xx design lints,
LS4xx receptive field, LS5xx budgets (``layerscope check``). Exceptions use LS9xx (``layerscope.errors``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

Severity = Literal["error", "warning", "info"]
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}

#: code -> (default severity, short title). Programs branch on codes; titles are for people.
CODES: dict[str, tuple[Severity, str]] = {
    "LS100": ("error", "forward pass failed"),
    "LS101": ("error", "residual shortcut does not match the main branch"),
    "LS102": ("error", "linear layer gets a different number of features than it expects"),
    "LS103": ("error", "concatenated tensors differ in size"),
    "LS104": ("error", "conv gets a different number of channels than it expects"),
    "LS105": ("error", "matmul inner dimensions differ"),
    "LS106": ("error", "view/reshape to an incompatible size"),
    "LS107": ("error", "elementwise operands cannot broadcast"),
    "LS108": ("error", "the forward needs tensor values (data-dependent control flow)"),
    "LS110": ("warning", "silent broadcasting in a residual merge"),
    "LS111": ("warning", "formula and traced shape disagree"),
    "LS112": ("warning", "input pixels dropped by floor division"),
    "LS120": ("info", "finding follows an earlier error"),
    "LS125": ("info", "a user hook failed on meta tensors and was skipped"),
    "LS201": ("info", "ops without a counting rule: totals are partial"),
    "LS202": ("info", "parameters never used in the forward pass"),
    "LS203": ("error", "the forward returned no tensor"),
    "LS301": ("warning", "conv bias directly followed by BatchNorm (wasted parameters)"),
    "LS302": ("warning", "transposed conv kernel not divisible by its stride (checkerboard artifacts)"),
    "LS303": ("warning", "plain stack of many weight layers without a skip connection"),
    "LS304": ("warning", "fully connected head holds most of the parameters"),
    "LS305": ("info", "large dense kernel beyond the stem"),
    "LS306": ("warning", "pooling kernel smaller than its stride (skipped pixels)"),
    "LS307": ("warning", "BatchNorm in training mode on a batch of 1"),
    "LS401": ("warning", "merged branches step through the input at different rates (jump mismatch)"),
    "LS402": ("warning", "merged branches are not centred on the same input pixel (misaligned fields)"),
    "LS403": ("info", "receptive field exceeds the input"),
    "LS404": ("info", "op without a receptive-field rule"),
    "LS501": ("error", "parameter count over budget"),
    "LS502": ("error", "MACs over budget"),
    "LS503": ("error", "activation memory over budget"),
    "LS504": ("error", "receptive field below the required minimum"),
    "LS505": ("warning", "budget cannot be verified"),
}


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
        from .graph import _jsonable

        return {"code": self.code, "severity": self.severity, "message": self.message, "hint": self.hint,
                "module": self.module, "source": self.source, "node": self.node, "data": _jsonable(dict(self.data))}

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
    """A diagnostic with the catalogue's default severity for ``code``."""
    sev = severity or CODES.get(code, ("warning", ""))[0]
    return Diagnostic(code, sev, message, hint, module, source, node, data)
