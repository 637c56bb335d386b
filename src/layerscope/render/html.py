"""HTML rendering for notebooks (``Report._repr_html_``)."""

from __future__ import annotations

import html
from typing import Any

from ._format import human, shape


def report_html(report: Any, *, max_rows: int = 400) -> str:
    s = report.summary()
    head = (f"<p><b>{html.escape(report.model)}</b>: {s['total_params']:,} params ({human(s['total_params'])}), "
            f"{human(s['total_macs'])} MACs ({report.status}), {s['errors']} errors, {s['warnings']} warnings</p>")
    rows = []
    for r in report.rows()[:max_rows]:
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
            r["name"], r["type"], shape(r["output_shape"]), f"{r['params']:,}", f"{r['macs']:,}", r["formula"] or ""))
            + "</tr>")
    table = ("<table><thead><tr><th>layer</th><th>type</th><th>output</th><th>params</th><th>MACs</th>"
             "<th>formula</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    diags = "".join(f"<li><b>{html.escape(d.code)}</b> {d.severity}: {html.escape(d.message)}</li>"
                    for d in report.diagnostics)
    return head + table + (f"<ul>{diags}</ul>" if diags else "")
