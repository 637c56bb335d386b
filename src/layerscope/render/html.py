"""HTML rendering: one self-contained page (``layerscope analyze SPEC -o report.html``) and a compact fragment
for notebooks (``Report._repr_html_``).

The page has every section of the markdown report (it is rendered from the same section functions, through the
small markdown subset they write), the plots inline as SVG, an interactive layer graph (``html_assets/report.js``
drawing with the vendored dagre layout, see docs/ARCHITECTURE.md) and a sortable, filterable per-layer table
linked to it. The report's JSON (``--format json``, sources made relative) is embedded once; the script reads
the graph, the diagnostics and the per-node numbers from it. Nothing is fetched: no external script, style, font
or image. Output is deterministic (no timestamps, no absolute paths, fixed SVG ids).
"""

from __future__ import annotations

import html
import json
import os
import re
from typing import Any

from ._format import human, human_bytes, shape
from .table import GROUP_KIND, HEADER_KIND, grouped_rows, relative_source, rf_value

_ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "html_assets")

#: the plots of the markdown report drawn inline; the layer graph is the interactive one instead
_INLINE_PLOTS = ("shapes", "receptive_field", "top_layers")


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _asset(name: str) -> str:
    with open(os.path.join(_ASSETS, name), encoding="utf-8") as fh:
        return fh.read()


# ---------------------------------------------------------------------------------------------- markdown subset
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\((#[A-Za-z0-9_-]+)\)")


def slug(text: str) -> str:
    """A heading's anchor as GitHub makes it: ``Where the cost is`` -> ``where-the-cost-is``."""
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def inline_markdown(text: str) -> str:
    """The inline markdown the renderers write (`` `code` ``, ``**bold**``, ``[text](#anchor)``, ``\\|``,
    ``\\*``, ``&nbsp;``) as HTML; everything else is escaped."""
    codes: list[str] = []

    def keep(m: re.Match) -> str:
        codes.append(f"<code>{_e(m.group(1))}</code>")
        return f"\x00{len(codes) - 1}\x00"

    text = _CODE.sub(keep, text.replace("\\|", "|"))
    out = _e(text.replace("\\*", "*")).replace("&amp;nbsp;", "&nbsp;")
    out = _BOLD.sub(r"<b>\1</b>", out)
    out = _LINK.sub(r'<a href="\2">\1</a>', out)
    return re.sub("\x00(\\d+)\x00", lambda m: codes[int(m.group(1))], out)


def _cells(line: str) -> list[str]:
    body = line.strip()[1:-1] if line.strip().endswith("|") else line.strip()[1:]
    cells, cur, i = [], "", 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] == "|":
            cur += "\\|"
            i += 2
            continue
        if body[i] == "|":
            cells.append(cur.strip())
            cur = ""
        else:
            cur += body[i]
        i += 1
    cells.append(cur.strip())
    return cells


def _md_table(lines: list[str]) -> str:
    head = _cells(lines[0])
    align = ["n" if c.strip().endswith(":") else "" for c in _cells(lines[1])] if len(lines) > 1 else []
    rows = [_cells(x) for x in lines[2:]]

    def td(tag: str, i: int, c: str) -> str:
        cls = ' class="n"' if i < len(align) and align[i] else ""
        return f"<{tag}{cls}>{inline_markdown(c)}</{tag}>"

    out = ["<table>"]
    if any(c for c in head):  # a key/value table ("| | |") has no header row
        out.append("<thead><tr>" + "".join(td("th", i, c) for i, c in enumerate(head)) + "</tr></thead>")
    out.append("<tbody>" + "".join("<tr>" + "".join(td("td", i, c) for i, c in enumerate(r)) + "</tr>"
                                   for r in rows) + "</tbody></table>")
    return "".join(out)


def markdown_to_html(md: str) -> str:
    """The markdown subset layerscope's renderers write (headings, pipe tables, ``>`` quotes, ``-`` lists one
    level nested, paragraphs) as HTML. Headings get GitHub's anchors, so ``[Diagnostics](#diagnostics)`` works."""
    lines = md.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        m = re.match(r"(#{1,6}) (.*)", line)
        if m:
            level, text = len(m.group(1)), m.group(2)
            out.append(f'<h{level} id="{slug(re.sub(r"[`*]", "", text))}">{inline_markdown(text)}</h{level}>')
            i += 1
            continue
        block: list[str] = []
        if line.startswith("|"):
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            out.append(_md_table(block))
        elif line.startswith(">"):
            while i < len(lines) and lines[i].startswith(">"):
                block.append(lines[i][1:].strip())
                i += 1
            out.append(f"<blockquote>{inline_markdown(' '.join(block))}</blockquote>")
        elif line.startswith("- "):
            items: list[tuple[str, list[str]]] = []
            while i < len(lines) and (lines[i].startswith("- ") or lines[i].startswith("  - ")):
                if lines[i].startswith("- "):
                    items.append((lines[i][2:], []))
                elif items:
                    items[-1][1].append(lines[i][4:])
                i += 1
            lis = []
            for text, subs in items:
                sub = "<ul>" + "".join(f"<li>{inline_markdown(s)}</li>" for s in subs) + "</ul>" if subs else ""
                lis.append(f"<li>{inline_markdown(text)}{sub}</li>")
            out.append("<ul>" + "".join(lis) + "</ul>")
        else:
            while i < len(lines) and lines[i].strip() and not re.match(r"(#{1,6} |\||>|- )", lines[i]):
                block.append(lines[i])
                i += 1
            out.append(f"<p>{inline_markdown(' '.join(block))}</p>")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- plots
def _svg(fig: Any) -> str:
    """A matplotlib figure as an inline ``<svg>`` (text kept as text, fixed ids, no date or creator)."""
    import io

    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "layerscope", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg"):].strip()


def inline_plots(report: Any, *, top_k: int = 10) -> list[tuple[str, str, str]]:
    """``(key, caption, svg)`` of the report's plots that can be drawn for this model."""
    from .plots import REPORT_PLOTS, report_figure

    out = []
    for key in _INLINE_PLOTS:
        caption = REPORT_PLOTS[key][1]
        if key == "top_layers" and not any(r["macs"] or r["params"] for r in report.rows()):
            continue
        fig = report_figure(report, key, top_k=top_k)
        if fig is not None:
            out.append((key, caption, _svg(fig)))
    return out


# ---------------------------------------------------------------------------------------------- data
def _scope_tree(graph: Any) -> tuple[list[int | None], list[int | None]]:
    """The parent scope (index into ``graph.scopes``) of every scope and of every node: the innermost container
    call whose ``first..last`` span holds it (spans nest, since calls nest)."""
    scopes = graph.scopes
    order = sorted(range(len(scopes)), key=lambda k: (scopes[k].first, -scopes[k].last, scopes[k].depth))
    scope_parent: list[int | None] = [None] * len(scopes)
    node_parent: list[int | None] = [None] * len(graph.nodes)
    stack: list[int] = []
    j = 0
    for n in graph.nodes:
        while stack and scopes[stack[-1]].last < n.id:
            stack.pop()
        while j < len(order) and scopes[order[j]].first <= n.id:
            k = order[j]
            j += 1
            if scopes[k].last < scopes[k].first or not scopes[k].name:  # the model itself is no box
                continue
            while stack and scopes[stack[-1]].last < scopes[k].first:
                stack.pop()
            scope_parent[k] = stack[-1] if stack else None
            stack.append(k)
        while stack and scopes[stack[-1]].last < n.id:
            stack.pop()
        node_parent[n.id] = stack[-1] if stack else None
    return scope_parent, node_parent


def _provenance(report: Any, d: Any) -> list[int]:
    """Node ids behind a shape error: the producers of its operands, the layers its message names (the layer that
    set the channel count, the flatten, the branches of a residual) and the nodes between them and the error."""
    graph = report.layer_graph
    data = d.data or {}
    found: list[int] = [p for p in data.get("producers", []) or [] if isinstance(p, int) and p < len(graph)]
    names = [data.get(k) for k in ("channel_setter", "flatten")]
    for k in ("main_branch", "shortcut_branch"):
        names += list(data.get(k) or [])
    by_name = {n.name: n.id for n in graph.nodes}
    named = [by_name[x] for x in names if isinstance(x, str) and x in by_name]
    found += named
    if d.node is not None and named:
        # the nodes on a path from the named origin to the error: the chain that carried the wrong size
        preds = {n.id: graph.predecessors(n.id) for n in graph.nodes}
        lo = min(named)
        seen, todo = set(), [d.node]
        while todo:
            v = todo.pop()
            for p in preds.get(v, []):
                if p >= lo and p not in seen:
                    seen.add(p)
                    todo.append(p)
        found += sorted(seen)
    return sorted({x for x in found if x != d.node})


def _rel_dict(report: Any, root: str | None) -> dict[str, Any]:
    """:meth:`Report.to_dict` with source paths relative to ``root`` (reports must not depend on where the
    repository or site-packages live)."""
    d = report.to_dict()
    for n in d["graph"]["nodes"]:
        n["source"] = relative_source(n.get("source"), root)
    for x in d["diagnostics"]:
        x["source"] = relative_source(x.get("source"), root)
    return d


def view_data(report: Any, *, graph_depth: int = 2) -> dict[str, Any]:
    """What the page's script needs beyond the report's JSON (which has the graph, the diagnostics and the
    per-node formula and receptive-field columns): the scope tree and the errors with their provenance."""
    graph = report.layer_graph
    scope_parent, node_parent = _scope_tree(graph)
    errors = [{"node": d.node, "code": d.code, "related": _provenance(report, d)}
              for d in report.diagnostics if d.severity == "error" and d.node is not None]
    return {"graph_depth": graph_depth, "scope_parent": scope_parent, "node_parent": node_parent,
            "errors": errors}


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else v


def _script_json(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


# ---------------------------------------------------------------------------------------------- table
def layer_table_html(report: Any, *, max_depth: int | None = None, max_rows: int | None = None,
                     root: str | None = None, linked: bool = False) -> str:
    """The per-layer table as an HTML ``<table>`` (grouped to ``max_depth`` like the markdown one). ``linked``:
    rows carry the node or scope they stand for and numeric cells their value, for the page's script."""
    from .markdown import _rf_text

    graph = report.layer_graph
    scope_index = {(s.name, s.call): k for k, s in enumerate(graph.scopes)}
    rows = grouped_rows(report, max_depth)
    with_rf = any(r["rf"] is not None for r in rows)
    head = ["layer", "type", "input", "output", "params", "MACs", "FLOPs", "activations"] + (
        ["RF"] if with_rf else []) + ["formula"]
    numeric = {4, 5, 6, 7, 8} if with_rf else {4, 5, 6, 7}
    th = "".join(f'<th class="n">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(head))
    body = []
    # repeated blocks fold (as in text and markdown): one row "32 x LlamaDecoderLayer" with the total and the
    # per-block cost, its blocks' rows after it, hidden until the row is opened (the page's script); a folded
    # row does not count against max_rows, so every layer stays in the page
    fold_at, in_run = _repeat_folds(report, rows) if linked else ({}, {})
    shown, cut = 0, None
    for ri, r in enumerate(rows):
        if max_rows is not None and shown >= max_rows and ri not in in_run:
            cut = ri
            break
        if ri in fold_at:
            k, rep = fold_at[ri]
            body.append(_repeat_tr(k, rep, with_rf, numeric))
            shown += 1
        if ri not in in_run:
            shown += 1
        typ = r["type"] + (f" ({r['layers']} layers)" if r["kind"] == GROUP_KIND else "")
        formula = "" if r["kind"] in (GROUP_KIND, HEADER_KIND) else (r["formula"] or "")
        pad = "&nbsp;&nbsp;" * max(r["depth"] - 1, 0) if max_depth is not None else ""
        rfv = rf_value(r["rf"])
        cells = [
            (pad + f"<code>{_e(r['name'])}</code>", None), (_e(typ), None),
            (shape(r["input_shape"]), None), (shape(r["output_shape"]), None),
            (f"{r['params']:,}", r["params"]), (f"{r['macs']:,}" + ("" if r["complete"] else "*"), r["macs"]),
            (f"{r['flops']:,}", r["flops"]), (human_bytes(r["activation_bytes"]), r["activation_bytes"]),
        ] + ([(_rf_text(r["rf"]), -1 if rfv is None else _num(rfv))] if with_rf else []) + [(_e(formula), None)]
        tds = []
        for i, (text, value) in enumerate(cells):
            attr = f' data-v="{value}"' if linked and value is not None else ""
            tds.append(f'<td class="n"{attr}>{text}</td>' if i in numeric else f"<td>{text}</td>")
        attrs = []
        if r["kind"] == HEADER_KIND:
            attrs.append('class="group"')
        if linked:
            if r["kind"] in (GROUP_KIND, HEADER_KIND):
                k = scope_index.get((r["name"], r["call"]))
                if k is not None:
                    attrs.append(f'data-scope="{k}"')
            elif r.get("_id") is not None:
                attrs.append(f'data-node="{r["_id"]}"')
        if ri in in_run:
            attrs.append(f'data-in-run="{in_run[ri]}" hidden')
        body.append(f"<tr{' ' + ' '.join(attrs) if attrs else ''}>{''.join(tds)}</tr>")
    more = ""
    if cut is not None:
        left = sum(1 for j in range(cut, len(rows)) if j not in in_run)
        more = f"<p>{left} more rows: use <code>to_markdown()</code> or a depth.</p>"
    table_id = ' id="ls-layers"' if linked else ""
    return f"<table{table_id} class=\"layers\"><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def _repeat_folds(report: Any, rows: list[dict[str, Any]]) -> tuple[dict[int, tuple[int, dict]], dict[int, int]]:
    """``({first row index: (run number, repeat row)}, {row index: run number})`` for the outermost runs of
    identical blocks (:mod:`layerscope.render.folding`); runs nested in a block fold away with it."""
    from .folding import _inside, _node_ids, _repeat_row, repeat_runs

    runs = repeat_runs(report)
    runs = [r for r in runs if not any(o is not r and o.first <= r.first and r.last <= o.last for o in runs)]
    ids = _node_ids(rows, report)
    fold_at: dict[int, tuple[int, dict]] = {}
    in_run: dict[int, int] = {}
    for k, run in enumerate(runs):
        span = [i for i, (r, nid) in enumerate(zip(rows, ids)) if _inside(run, r, nid)]
        if not span:
            continue
        block = [i for i in span if run.block_first <= ids[i] <= run.block_last]  # type: ignore[operator]
        fold_at[span[0]] = (k, _repeat_row(run, [rows[i] for i in span], [rows[i] for i in block]))
        in_run.update({i: k for i in span})
    return fold_at, in_run


def _repeat_tr(k: int, r: dict[str, Any], with_rf: bool, numeric: set[int]) -> str:
    """The folded row of run ``k``: totals in the cells, the per-block cost in the formula; a click opens it."""
    from .markdown import _rf_text

    per = r["block"]
    cells = [
        f'<button type="button" class="ls-fold" aria-expanded="false" title="show the {r["repeats"]} blocks">'
        f'&#9656;</button> <code>{_e(r["name"])}</code>', _e(r["type"]), shape(r["input_shape"]),
        shape(r["output_shape"]), f"{r['params']:,}", f"{r['macs']:,}" + ("" if r["complete"] else "*"),
        f"{r['flops']:,}", human_bytes(r["activation_bytes"]),
    ] + ([_rf_text(r["rf"])] if with_rf else []) + [
        _e(f"{r['repeats']} identical blocks, each {per['macs']:,} MACs, {per['flops']:,} FLOPs, "
           f"{per['params']:,} params, {human_bytes(per['activation_bytes'])} activations")]
    values = [None, None, None, None, r["params"], r["macs"], r["flops"], r["activation_bytes"]]
    tds = "".join(f'<td class="n" data-v="{values[i]}">{c}</td>' if i in numeric and i < len(values)
                  else (f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>") for i, c in enumerate(cells))
    return (f'<tr class="repeat" data-run="{k}" data-repeats="{r["repeats"]}" data-block-macs="{per["macs"]}">'
            f"{tds}</tr>")


# ---------------------------------------------------------------------------------------------- page
def _sections(md: str) -> tuple[str, list[tuple[str, str]]]:
    """Split a markdown report into its preamble (title, command, error banner) and ``(heading, body)``."""
    parts = re.split(r"^## (.*)$", md, flags=re.M)
    return parts[0], [(parts[i], parts[i + 1]) for i in range(1, len(parts), 2)]


def _graph_section(report: Any) -> str:
    n = len(report.nodes)
    return (
        '<div id="ls-graph-tools" class="tools">'
        '<input id="ls-search" type="search" placeholder="find a layer by name" list="ls-names" '
        'aria-label="find a layer by name"><datalist id="ls-names"></datalist>'
        '<button id="ls-fit" type="button" title="fit the graph to the window">fit</button>'
        '<button id="ls-zoom-in" type="button" title="zoom in">+</button>'
        '<button id="ls-zoom-out" type="button" title="zoom out">&minus;</button>'
        '<button id="ls-expand" type="button" title="expand one more level">expand all</button>'
        '<button id="ls-collapse" type="button" title="back to the starting depth">collapse</button>'
        '<span id="ls-status" class="muted"></span></div>'
        '<div id="ls-graph-wrap"><svg id="ls-graph" role="img" aria-label="layer graph"></svg>'
        '<aside id="ls-panel"><p class="muted">Click a node for its shapes, formula, cost, receptive field and '
        'diagnostics. Double-click a module (or its &#x229e;) to expand or collapse it; drag to pan, wheel to '
        'zoom.</p></aside></div>'
        f'<noscript><p>The interactive graph needs JavaScript; the {n} layers are in the table below.</p></noscript>'
    )


def report_html(report: Any, *, max_rows: int | None = 400, max_depth: int | None = None,
                plots: Any = True, full: bool = False, title: str | None = None, top_k: int = 10,
                root: str | None = None, command: str | None = None, graph_depth: int = 2) -> str:
    """The report as HTML.

    ``full``: one self-contained page with every section of the markdown report, the plots inline as SVG
    (``plots=False``: none), the interactive layer graph starting collapsed to ``graph_depth``, the per-layer
    table grouped to ``max_depth`` (sortable, filterable, linked to the graph) and the report's JSON embedded
    once. Otherwise a compact fragment for notebooks (summary, error banner, layer table, diagnostics; no
    script, since notebooks may not run it)."""
    root = os.getcwd() if root is None else root
    name = title or report.model
    md = report.to_markdown(max_depth=max_depth, title=name, root=root, command=command if full else None,
                            top_k=top_k)
    preamble, sections = _sections(md)
    if not full:
        return _fragment(report, preamble, sections, max_depth=max_depth, max_rows=max_rows, root=root)
    body = [markdown_to_html(preamble)]
    for heading, text in sections:
        hid = slug(heading)
        if heading.startswith("Layers"):
            body.append(f'<section id="sec-layers"><h2 id="{hid}">{inline_markdown(heading)}</h2>'
                        '<div class="tools"><input id="ls-filter" type="search" placeholder="filter rows (name, '
                        'type, shape)" aria-label="filter the table"><span id="ls-count" class="muted"></span>'
                        '<span class="muted">click a header to sort, a row to show it in the graph</span></div>'
                        + layer_table_html(report, max_depth=max_depth, root=root, linked=True)
                        + ("<p>* partial: this row ran an op without a counting rule (see LS201 below).</p>"
                           if not report.complete else "") + "</section>")
            continue
        body.append(f'<section><h2 id="{hid}">{inline_markdown(heading)}</h2>{markdown_to_html(text)}</section>')
        if heading == sections[0][0]:  # after the summary: the plots and the graph
            if plots:
                figs = inline_plots(report, top_k=top_k)
                if figs:
                    body.append('<section id="sec-plots"><h2 id="plots">Plots</h2>' + "".join(
                        f'<figure id="plot-{k}"><figcaption>{_e(c)}</figcaption>{svg}</figure>'
                        for k, c, svg in figs) + "</section>")
            body.append('<section id="sec-graph"><h2 id="layer-graph">Layer graph</h2>'
                        + _graph_section(report) + "</section>")
    body.append(f'<footer class="muted">layerscope report of {_e(report.model)}; the data is embedded as '
                '<code>&lt;script id="ls-report"&gt;</code> (the same JSON as <code>--format json</code>).</footer>')
    data = _script_json(_rel_dict(report, root))
    view = _script_json(view_data(report, graph_depth=graph_depth))
    dagre = _asset("dagre.min.js")
    license_text = _asset("dagre.LICENSE.txt").replace("*/", "* /")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_e(name)}</title><style>{_asset('report.css')}</style></head>\n<body>\n"
        + "\n".join(body) + "\n"
        f'<script type="application/json" id="ls-report">{data}</script>\n'
        f'<script type="application/json" id="ls-view">{view}</script>\n'
        f"<script>/* @dagrejs/dagre 1.1.4 (npm), dist/dagre.min.js\n{license_text}*/\n{dagre}</script>\n"
        f"<script>{_asset('report.js')}</script>\n</body></html>\n"
    )


def training_section_html(cost: Any, *, top_k: int = 10, plots: bool = True,
                          fits: tuple[str, int] | None = None) -> str:
    """The Training section of the page (``analyze --train -o report.html``): the markdown report's section with
    the memory timeline inline as SVG, so the page stays one file."""
    from .training import plot_training_memory, training_markdown

    md = training_markdown(cost, plot=None, top_k=top_k, fits=fits)
    _, ((heading, text),) = _sections(md)
    figure = ""
    if plots:
        figure = ('<figure id="plot-training-memory"><figcaption>live bytes after every op of forward, backward '
                  'and step, stacked by kind, the peak marked</figcaption>'
                  + _svg(plot_training_memory(cost).figure) + "</figure>")
    return (f'<section id="sec-training"><h2 id="{slug(heading)}">{inline_markdown(heading)}</h2>'
            + markdown_to_html(text) + figure + "</section>")


def with_section(page: str, section: str) -> str:
    """``page`` (a full report) with ``section`` added after its last section, before the footer."""
    at = page.rindex('<footer class="muted">')
    return page[:at] + section + "\n" + page[at:]


def _fragment(report: Any, preamble: str, sections: list[tuple[str, str]], *, max_depth: int | None,
              max_rows: int | None, root: str | None) -> str:
    """The notebook form: title line, error banner, summary, layer table (first ``max_rows``), diagnostics."""
    keep = {"Summary", "Diagnostics"}
    parts = [f'<div class="layerscope"><style>{_FRAGMENT_STYLE}</style>', markdown_to_html(
        re.sub(r"^# ", "### ", preamble, count=1))]
    for heading, text in sections:
        if heading in keep:
            parts.append(f"<h4>{inline_markdown(heading)}</h4>{markdown_to_html(text)}")
        elif heading.startswith("Layers"):
            parts.append(f"<h4>{inline_markdown(heading)}</h4>"
                         + layer_table_html(report, max_depth=max_depth, max_rows=max_rows, root=root))
    parts.append(f"<p class=\"muted\">{human(report.total_macs)} MACs, {human(report.total_params)} params; "
                 "the full interactive report: <code>layerscope analyze SPEC -o report.html</code>.</p></div>")
    return "\n".join(parts)


_FRAGMENT_STYLE = (".layerscope table{border-collapse:collapse;font-size:12px}.layerscope td,.layerscope th"
                   "{border:1px solid #ccc;padding:2px 6px}.layerscope td.n,.layerscope th.n{text-align:right}"
                   ".layerscope tr.group td{font-weight:bold;background:#f3f3f3}.layerscope blockquote{color:#555;"
                   "border-left:3px solid #ccc;margin-left:0;padding-left:1em}.layerscope .muted{color:#666}")
