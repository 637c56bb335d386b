"""A new Axes on a pyplot-free Figure (no GUI backend, no global figure registry), shared by the plot modules."""

from __future__ import annotations

from typing import Any


def new_ax(ax: Any = None, figsize: tuple[float, float] = (8.0, 4.5)) -> Any:
    """``ax`` itself, or the Axes of a new ``matplotlib.figure.Figure`` of ``figsize`` inches."""
    if ax is not None:
        return ax
    from ..errors import require

    require("matplotlib", "plotting")
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()
