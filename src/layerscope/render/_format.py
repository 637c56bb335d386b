"""Number formatting shared by the renderers."""

from __future__ import annotations


def human(n: float | int | None, unit: str = "") -> str:
    """``25557032 -> '25.56M'``."""
    if n is None:
        return "-"
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.2f}{suffix}{unit}"
    return f"{n:g}{unit}" if isinstance(n, float) else f"{n}{unit}"


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for div, suffix in ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if abs(n) >= div:
            return f"{n / div:.2f} {suffix}"
    return f"{n} B"


def shape(s) -> str:
    return "-" if s is None else "x".join(str(d) for d in s) if s else "scalar"
