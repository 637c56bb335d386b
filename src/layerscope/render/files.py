"""Render a Report in any output format, and write it (with its plots) to files."""

from __future__ import annotations

import json
import os
from typing import Any, Literal

Format = Literal["text", "md", "html", "json", "csv"]
FORMATS: tuple[str, ...] = ("text", "md", "html", "json", "csv")
_EXTENSIONS = {"md": "md", "markdown": "md", "html": "html", "htm": "html", "json": "json", "csv": "csv",
               "txt": "text"}


def format_for_path(path: str | None, default: str = "text") -> str:
    """``reports/x.md -> 'md'``; unknown or no extension -> ``default``."""
    if not path or "." not in os.path.basename(path):
        return default
    return _EXTENSIONS.get(path.rsplit(".", 1)[-1].lower(), default)


def render_report(report: Any, fmt: str = "text", *, max_depth: int | None = None,
                  plots: dict[str, str] | None = None, root: str | None = None, title: str | None = None,
                  command: str | None = None, top_k: int = 10, fold: bool = True, graph_depth: int = 2) -> str:
    """The report as a string in ``fmt`` (``text``, ``md``, ``html``, ``json``, ``csv``). ``csv`` is the per-layer
    table (grouped to ``max_depth`` when given); ``json`` is :meth:`Report.to_dict` (lossless, readable back
    with :meth:`Report.from_json`); ``html`` is one self-contained page (plots inline unless ``plots`` is an
    empty mapping, the layer graph interactive from ``graph_depth``)."""
    from ..errors import ConfigError

    if fmt == "md":
        return report.to_markdown(max_depth=max_depth, plots=plots, root=root, title=title, command=command,
                                  top_k=top_k, fold=fold, graph_depth=graph_depth)
    if fmt == "html":
        from .html import report_html

        return report_html(report, max_depth=max_depth, plots=plots is None or bool(plots), full=True, root=root,
                           title=title, top_k=top_k, command=command, graph_depth=graph_depth)
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=1, sort_keys=True) + "\n"
    if fmt == "csv":
        return layer_csv(report, max_depth=max_depth, root=root)
    if fmt == "text":
        return report.to_text(max_depth=max_depth, fold=fold)
    raise ConfigError(f"unknown report format {fmt!r}", hint="use one of " + ", ".join(FORMATS), code="LS961")


def layer_csv(report: Any, *, max_depth: int | None = None, root: str | None = None) -> str:
    """The per-layer table as CSV (shapes as ``1x64x112x112``, sources relative to ``root``)."""
    import csv
    import io

    from ..report import TABLE_COLUMNS
    from ._format import shape
    from .table import grouped_rows, relative_source

    root = os.getcwd() if root is None else root
    buf = io.StringIO()
    columns = TABLE_COLUMNS + (["layers"] if max_depth is not None else [])
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in grouped_rows(report, max_depth):
        cells = []
        for c in columns:
            v = r.get(c)
            if c in ("input_shape", "output_shape"):
                v = "" if v is None else shape(v)
            elif c == "source":
                v = relative_source(v, root) or ""
            elif isinstance(v, (tuple, list)):
                v = "x".join(str(x) for x in v)
            elif v is None:
                v = ""
            cells.append(v)
        writer.writerow(cells)
    return buf.getvalue()


def write_report(report: Any, path: str, *, fmt: str | None = None, max_depth: int | None = None,
                 plots: bool = True, graph_depth: int = 2, root: str | None = None, title: str | None = None,
                 command: str | None = None, top_k: int = 10, fold: bool = True) -> list[str]:
    """Write ``report`` to ``path`` (format from ``fmt`` or the extension); for markdown also write the plots
    beside it as ``{stem}_{plot}.png`` and link them (HTML has them inline: one file). Returns the paths
    written, report first."""
    fmt = fmt or format_for_path(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    written_plots: dict[str, str] = {}
    if plots and fmt == "md":
        from .plots import write_report_plots

        stem = os.path.splitext(os.path.basename(path))[0]
        written_plots = write_report_plots(report, directory, stem, top_k=top_k, graph_depth=graph_depth)
    if fmt == "html":
        written_plots = {"inline": "yes"} if plots else {}
    text = render_report(report, fmt, max_depth=max_depth, plots=written_plots, root=root, title=title,
                         command=command, top_k=top_k, fold=fold, graph_depth=graph_depth)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")
    if fmt == "html":
        return [path]
    return [path] + [os.path.join(os.path.dirname(path), name) for name in written_plots.values()]
