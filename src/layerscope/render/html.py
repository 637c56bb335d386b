"""HTML rendering: a fragment for notebooks (``Report._repr_html_``) and a standalone page
(``layerscope analyze --format html``) with the same sections as the markdown report."""

from __future__ import annotations

import html
from typing import Any, Mapping

from ._format import shape
from .table import GROUP_KIND, HEADER_KIND, grouped_rows, top_layers

_STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
          "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px}"
          "td.n{text-align:right}tr.group td{font-weight:bold;background:#f3f3f3}img{max-width:100%}"
          "blockquote{color:#555;border-left:3px solid #ccc;margin-left:0;padding-left:1em}")


def _e(x: Any) -> str:
    return html.escape(str(x))


def _table(headers: list[str], rows: list[tuple[list[str], str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for cells, cls in rows:
        tds = "".join(f"<td class=\"n\">{c}</td>" if i in numeric else f"<td>{c}</td>" for i, c in enumerate(cells))
        body.append(f"<tr class=\"{cls}\">{tds}</tr>" if cls else f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def layer_table_html(report: Any, *, max_depth: int | None = None, max_rows: int | None = None) -> str:
    """The per-layer table as an HTML ``<table>`` (grouped to ``max_depth`` like the markdown one)."""
    from .markdown import _rf_text

    rows = []
    for r in grouped_rows(report, max_depth)[:max_rows]:
        typ = r["type"] + (f" ({r['layers']} layers)" if r["kind"] == GROUP_KIND else "")
        formula = "" if r["kind"] in (GROUP_KIND, HEADER_KIND) else (r["formula"] or "")
        pad = "&nbsp;&nbsp;" * max(r["depth"] - 1, 0) if max_depth is not None else ""
        rows.append(([pad + _e(r["name"]), _e(typ), shape(r["input_shape"]), shape(r["output_shape"]),
                      f"{r['params']:,}", f"{r['macs']:,}" + ("" if r["complete"] else "*"), _rf_text(r["rf"]),
                      _e(formula)], "group" if r["kind"] == HEADER_KIND else ""))
    return _table(["layer", "type", "input", "output", "params", "MACs", "RF", "formula"], rows, {4, 5, 6})


def report_html(report: Any, *, max_rows: int | None = 400, max_depth: int | None = None,
                plots: Mapping[str, str] | None = None, full: bool = False, title: str | None = None,
                top_k: int = 10, root: str | None = None) -> str:
    """The report as HTML. ``full``: a standalone page with every section (plots linked as ``<img>``);
    otherwise a compact fragment (summary, layer table, diagnostics) for notebooks."""
    from .markdown import summary_items
    from .plots import REPORT_PLOTS
    from .table import relative_source

    name = title or report.model
    summary = _table(["", ""], [([_e(k), _e(v)], "") for k, v in summary_items(report)], set())
    parts = [f"<h1>{_e(name)}</h1>" if full else f"<p><b>{_e(name)}</b></p>", summary,
             f"<blockquote><b>Convention.</b> {_e(report.convention)}</blockquote>"]
    if full and plots:
        parts.append("<h2>Plots</h2>")
        for key, (_, caption) in REPORT_PLOTS.items():
            if key in plots:
                parts.append(f"<h3>{_e(caption)}</h3><img src=\"{_e(plots[key])}\" alt=\"{_e(caption)}\">")
    if full:
        parts.append("<h2>Where the cost is</h2>")
        for metric, label, total in (("macs", "MACs", report.total_macs), ("params", "params",
                                                                          report.total_params)):
            top = top_layers(report, metric, top_k)
            if top:
                parts.append(f"<p>Top {len(top)} layers by {label}:</p>")
                parts.append(_table(["layer", "type", "output", label, "share"], [(
                    [_e(r["name"]), _e(r["type"]), shape(r["output_shape"]), f"{r[metric]:,}",
                     f"{100 * r[metric] / total:.1f}%" if total else "-"], "") for r in top], {3, 4}))
    parts.append("<h2>Layers</h2>" if full else "")
    parts.append(layer_table_html(report, max_depth=max_depth, max_rows=None if full else max_rows))
    if report.diagnostics:
        parts.append("<h2>Diagnostics</h2>" if full else "")
        items = []
        for d in report.diagnostics:
            src = relative_source(d.source, root)
            hint = f"<br><i>hint: {_e(d.hint)}</i>" if d.hint else ""
            items.append(f"<li><b>{_e(d.code)}</b> {_e(d.severity)}"
                         f"{' <code>' + _e(d.module) + '</code>' if d.module else ''}"
                         f"{' (' + _e(src) + ')' if src else ''}: {_e(d.text)}{hint}</li>")
        parts.append(f"<ul>{''.join(items)}</ul>")
    body = "\n".join(p for p in parts if p)
    if not full:
        return body
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{_e(name)}</title>"
            f"<style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n")
