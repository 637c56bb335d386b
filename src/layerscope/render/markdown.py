"""Markdown rendering of a Report: the report a person hands to a colleague.

Sections: summary (with the counting convention), plots (linked PNG files written beside the report),
receptive field, where the cost is (top layers, cost per top-level module), the per-layer table (grouped to a
module depth) and the diagnostics with their hints. Output is deterministic: no timestamps, no absolute paths
(sources are shown relative to ``root``), fixed number formatting; the same report renders to the same bytes.
"""

from __future__ import annotations

from typing import Any, Mapping

from ._format import human, human_bytes, shape
from .folding import REPEAT_KIND, fold_repeated_blocks, top_grouped_layers
from .rf_plots import receptive_field_markdown, receptive_field_summary
from .table import (GROUP_KIND, HEADER_KIND, final_rf, global_at, grouped_rows, relative_source, rf_value,
                    spatial_input_size, top_layers)


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _rf_text(value: Any) -> str:
    """``(211, 211) -> '211'``, ``(19, 35) -> '19x35'``, None -> '-'."""
    if value is None:
        return "-"
    if isinstance(value, (tuple, list)):
        vals = [v for v in value]
        if not vals:
            return "-"
        if all(v == vals[0] for v in vals):
            return _num(vals[0])
        return "x".join(_num(v) for v in vals)
    return _num(value)


def _num(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else f"{v:.2f}"
    return str(v)


def _pct(part: float, total: float) -> str:
    return f"{100 * part / total:.1f}%" if total else "-"


# ---------------------------------------------------------------------------------------------- sections
def summary_items(report: Any) -> list[tuple[str, str]]:
    """(label, value) pairs of the summary block, shared by the markdown and HTML renderers."""
    s = report.summary()
    partial = "" if report.complete else " (partial: no rule for " + ", ".join(sorted(report.unknown_ops)) + ")"
    items = [
        ("input", ", ".join(shape(t.shape) for t in report.inputs) + f" ({report.mode} mode)"),
        ("parameters", f"{s['total_params']:,} ({human(s['total_params'])}): trainable "
                       f"{report.trainable_params:,}, frozen {report.frozen_params:,}"),
        ("MACs", f"{s['total_macs']:,} ({human(s['total_macs'])}){partial}"),
        ("FLOPs", f"{s['total_flops']:,} ({human(s['total_flops'])}){partial}"),
        ("parameter memory", human_bytes(report.param_bytes) + (
            f" (+ {human_bytes(report.buffer_bytes)} buffers)" if report.buffer_bytes else "")),
        ("activation memory", f"{human_bytes(report.activation_bytes)} (every freshly allocated layer output of "
                              "one forward pass, inputs excluded; views and in-place results share memory)"),
        ("inference peak", peak_text(report)),
    ]
    kv = kv_cache_text(report)
    if kv:
        items.append(("KV cache", kv))
    causal = causal_text(report)
    if causal:
        items.append(("causal attention", causal))
    items.append(("receptive field", receptive_field_summary_text(report)))
    items.append(("counting status", report.status))
    sev = {k: sum(d.severity == k for d in report.diagnostics) for k in ("error", "warning", "info")}
    items.append(("diagnostics", f"{sev['error']} errors, {sev['warning']} warnings, {sev['info']} info"))
    return items


def peak_text(report: Any) -> str:
    """``12.5 MiB live at once, at `layer3.1.conv2` (each tensor freed after its last reader)``."""
    at = getattr(report, "peak_at", None)
    return (f"{human_bytes(report.peak_activation_bytes)} of activations live at once"
            + (f", at `{at}`" if at else "") + " (each tensor freed after its last reader; inputs, outputs and a "
            "returned KV cache included)")


def causal_text(report: Any) -> str:
    """How much of the MACs is causal attention counted in full, and the figure without the masked half."""
    ca = getattr(report, "causal_attention", None)
    if ca is None:
        return ""
    total = report.total_macs
    return (f"{ca.calls} causal attention calls counted in full: {ca.full_macs:,} MACs ({human(ca.full_macs)}); "
            f"a kernel that skips the masked scores does {ca.causal_macs:,} ({human(ca.causal_macs)}), so the "
            f"model total would be {total - ca.skipped_macs:,} ({human(total - ca.skipped_macs)}, "
            f"-{_pct(ca.skipped_macs, total)})")


def kv_cache_text(report: Any) -> str:
    """``2 GiB at 2048 positions (1 MiB per token)``, or "" when the forward returned no cache."""
    total = getattr(report, "kv_cache_bytes", None)
    if total is None:
        return ""
    cache = report.meta.get("kv_cache", {})
    lengths = cache.get("lengths") or [cache.get("length")]
    at = " and ".join(str(x) for x in lengths)
    batch = cache.get("batch", 1)
    return (f"{human_bytes(total)} at {at} cached positions" + (f" x {batch} sequences" if batch != 1 else "")
            + f" ({human_bytes(report.kv_cache_bytes_per_token)} per token per sequence; keys and values of "
            f"{cache.get('tensors', 0) // 2} attention layers)")


def receptive_field_summary_text(report: Any) -> str:
    """One phrase for the summary: the local field and jump at the output, where it goes global and whether it
    exceeds the input (:func:`layerscope.render.rf_plots.receptive_field_summary`); from the per-layer rows
    when the output has no field (the trace failed before it)."""
    from .sequence_rf import frames_unit, sequence_field_text

    seq = sequence_field_text(report)  # sequence models: tokens are not pixels, frames are frames
    if seq:
        return seq
    out = report.receptive_field
    why = f" ({out.reason_code}: {out.reason})" if out is not None and out.reason_code else ""
    text = receptive_field_summary(report)
    if text:
        return frames_unit(report, text) + (f"; partly unknown{why}" if why else "")
    rf = final_rf(report)
    if rf is None:
        if why and out is not None and out.is_global:
            return f"global from `{out.global_from}` on; local field unknown{why}"
        return "unknown" + why if why else "not available for this model"
    where = global_at(report)
    return frames_unit(report, f"{_rf_text(rf)} px at the output" + (f"; global from `{where}` on" if where else "")
                       + (f"; partly unknown{why}" if why else ""))


def summary_markdown(report: Any) -> str:
    """The summary block as a two-column table followed by the counting convention."""
    lines = ["| | |", "|---|---|"]
    lines += [f"| {label} | {_escape(value)} |" for label, value in summary_items(report)]
    lines += ["", f"> **Convention.** {report.convention}"]
    return "\n".join(lines)


def layer_table_markdown(report: Any, *, max_depth: int | None = None, root: str | None = None,
                         sources: bool = False, fold: bool = True) -> str:
    """The per-layer table. With ``max_depth`` deeper rows are folded into their parent module (its row sums
    their params/MACs); containers shown expanded get a bold header row with their totals. With ``fold``, runs
    of identical blocks are one ``32 x Block`` row followed by the first block's rows
    (:mod:`layerscope.render.folding`)."""
    rows = grouped_rows(report, max_depth)
    if fold:
        rows = fold_repeated_blocks(report, rows)
    # the RF column only when the receptive-field analysis produced values (it is optional)
    with_rf = any(r["rf"] is not None for r in rows)
    head = "| layer | type | input | output | params | MACs |" + (" RF |" if with_rf else "") + " formula |"
    sep = "|---|---|---|---|---:|---:|" + ("---:|" if with_rf else "") + "---|"
    if sources:
        head += " source |"
        sep += "---|"
    lines = [head, sep]
    for r in rows:
        indent = "&nbsp;&nbsp;" * max(r["depth"] - 1, 0) if max_depth is not None else ""
        name = f"{indent}`{_escape(r['name'])}`"
        typ = _escape(r["type"])
        if r["kind"] == HEADER_KIND:
            name, typ = f"{indent}**`{_escape(r['name'])}`**", f"**{typ}**"
        elif r["kind"] == GROUP_KIND:
            typ = f"{typ} ({r['layers']} layers)"
        elif r["kind"] == REPEAT_KIND:
            name, typ = f"{indent}**`{_escape(r['name'])}`**", f"**{typ}**"
        formula = "" if r["kind"] in (GROUP_KIND, HEADER_KIND) else _escape(r["formula"] or "")
        line = (f"| {name} | {typ} | {shape(r['input_shape'])} | {shape(r['output_shape'])} | {r['params']:,} | "
                f"{r['macs']:,}{'' if r['complete'] else '*'} |" + (f" {_rf_text(r['rf'])} |" if with_rf else "")
                + f" {formula} |")
        if sources:
            line += f" {_escape(relative_source(r['source'], root) or '')} |"
        lines.append(line)
    if not report.complete:
        lines += ["", "\\* partial: this row ran an op without a counting rule (see LS201 below)."]
    if fold and any(r["kind"] == REPEAT_KIND for r in rows):
        lines += ["", "Runs of identical blocks are one bold row (the run's totals) followed by the rows of its first "
                      "block; `report.table` has every layer of every block (`--no-fold` shows them all here)."]
    return "\n".join(lines)


def top_layers_markdown(report: Any, *, k: int = 10, fold: bool = True) -> str:
    """Two tables: the ``k`` layers with most MACs and with most parameters, with their share of the total.
    With ``fold``, a layer that plays the same role in every block of a run of identical blocks is one row
    (``model.layers.*.mlp.down_proj``, ``32 x 5,771,362,304``) ranked by its total."""
    out = []
    for metric, label, total in (("macs", "MACs", report.total_macs), ("params", "params", report.total_params)):
        top = top_grouped_layers(report, metric, k) if fold else top_layers(report, metric, k)
        if not top:
            continue
        out += [f"Top {len(top)} layers by {label}:", "", f"| layer | type | output | {label} | share |",
                "|---|---|---|---:|---:|"]
        for r in top:
            value = f"{r[metric]:,}"
            if r.get("count", 1) > 1:
                value += f" ({r['count']} x {r['each_' + metric]:,})"
            out.append(f"| `{_escape(r['name'])}` | {_escape(r['type'])} | {shape(r['output_shape'])} | {value} | "
                       f"{_pct(r[metric], total)} |")
        out.append("")
    return "\n".join(out).rstrip()


def breakdown_depth(report: Any, *, min_rows: int = 4, max_depth: int = 3) -> int:
    """The shallowest module depth whose grouping has at least ``min_rows`` costed rows: 1 for a ResNet
    (stem, layer1..4, fc), 2 for torchvision's EfficientNet (``features`` holds every stage)."""
    for d in range(1, max_depth + 1):
        if sum(1 for r in grouped_rows(report, d, headers=False) if r["params"] or r["macs"]) >= min_rows:
            return d
    return 1


def modules_cost_markdown(report: Any, depth: int = 1) -> str:
    """Cost per module at ``depth``: params, MACs and activation memory with their shares."""
    # every module that costs anything, activations included, so the activation shares add up to 100%;
    # a run of identical blocks is one row
    rows = [r for r in fold_repeated_blocks(report, grouped_rows(report, depth, headers=False), expand_first=False)
            if r["params"] or r["macs"] or r["activation_bytes"]]
    if not rows:
        return ""
    total_act = report.activation_bytes
    lines = ["| module | type | output | params | share | MACs | share | activations |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| `{_escape(r['name'])}` | {_escape(r['type'])} | {shape(r['output_shape'])} | "
                     f"{r['params']:,} | {_pct(r['params'], report.total_params)} | {r['macs']:,} | "
                     f"{_pct(r['macs'], report.total_macs)} | {human_bytes(r['activation_bytes'])} "
                     f"({_pct(r['activation_bytes'], total_act)}) |")
    return "\n".join(lines)


def receptive_field_section(report: Any) -> str:
    """The receptive-field section: :func:`layerscope.render.rf_plots.receptive_field_markdown`, or when the
    output has no field (the trace failed before it) a short per-stage summary from the per-layer rows (empty
    when nothing is known)."""
    text = receptive_field_markdown(report)
    if text:
        return text.strip()
    size = spatial_input_size(report)
    stages = []
    last_jump = None
    for r in report.rows():
        rf, jump = rf_value(r["rf"]), rf_value(r["jump"])
        if rf is None or jump == last_jump:
            continue
        last_jump = jump
        stages.append(f"| `{_escape(r['name'])}` | {shape(r['output_shape'])} | {_rf_text(r['rf'])} | "
                      f"{_rf_text(r['jump'])} |")
    if not stages:
        return ""
    head = f"Where the jump (effective stride) changes, for a {size} px input:" if size else \
        "Where the jump (effective stride) changes:"
    return "\n".join([head, "", "| layer | output | RF | jump |", "|---|---|---:|---:|"] + stages)


def diagnostics_markdown(report: Any, *, root: str | None = None) -> str:
    """One bullet per diagnostic (code, severity, module, source line, message) with its hint below."""
    out = []
    for d in report.diagnostics:
        where = f" `{_escape(d.module)}`" if d.module else ""
        src = relative_source(d.source, root)
        at = f" ({_escape(src)})" if src else ""
        out.append(f"- **{d.code}** {d.severity}{where}{at}: {_escape(d.text)}")
        if d.hint:
            out.append(f"  - hint: {_escape(d.hint)}")
    return "\n".join(out)


def html_command(command: str | None) -> str:
    """The command that writes the same report as one interactive HTML page: ``command`` with its ``-o`` file's
    extension made ``.html``; without a command, how to write one."""
    import os

    if command and " -o " in command:
        head, _, out = command.rpartition(" -o ")
        return f"`{head} -o {os.path.splitext(out)[0]}.html`"
    return ("`layerscope analyze SPEC -s SIZE -o REPORT.html`, or from Python "
            "`layerscope.render.files.write_report(report, \"report.html\")`")


def _graph_plan_depth(report: Any, graph_depth: int) -> int:
    from .graph_plot import plan_layer_graph

    return plan_layer_graph(report, graph_depth).depth


def graph_caption(report: Any, graph_depth: int = 2, *, command: str | None = None, drawn: bool = True) -> str:
    """What the layer-graph picture leaves out, and where to see it, when it is not the per-layer view at
    ``graph_depth`` (:func:`layerscope.render.graph_plot.plan_layer_graph`); ``""`` when it is. ``drawn``:
    whether a picture was written (when not, only the "too big to draw" case has something to say)."""
    from .graph_plot import MAX_COLS, MAX_ROWS, MAX_SKIPS, plan_layer_graph

    plan = plan_layer_graph(report, graph_depth)
    if not plan.coarser or (not drawn and plan.view != "none"):
        return ""
    limits = []
    if plan.full_rows > MAX_ROWS:
        limits.append(f"{MAX_ROWS} rows")
    if plan.full_skips > MAX_SKIPS:
        limits.append(f"{MAX_SKIPS} skip edges passing between two rows")
    if not limits:
        limits.append(f"{MAX_COLS} boxes side by side")
    skips = f", with up to {plan.full_skips} skip edges passing between two rows" if plan.full_skips > MAX_SKIPS \
        else ""
    per_layer = (f"Every layer at module depth {plan.requested_depth} would be {plan.full_nodes} boxes in "
                 f"{plan.full_rows} rows{skips}: more than a legible picture holds (at most "
                 f"{' and '.join(limits)}).")
    where = f"To see every layer (zoom, expand a block, search a layer by name), write the interactive HTML " \
            f"report: {html_command(command)}."
    if plan.view == "none":
        return (f"Not drawn: {per_layer} Even as blocks at module depth 1 it is {plan.nodes} boxes in {plan.rows} "
                f"rows. {where}")
    return (f"Drawn as **blocks at module depth {plan.depth}**: one box per module, with the layers and the "
            f"merges (residual adds, concatenations) inside it; a red border marks a block that holds merges. "
            f"{per_layer} {where}")


def report_markdown(report: Any, *, max_depth: int | None = None, title: str | None = None,
                    plots: Mapping[str, str] | None = None, top_k: int = 10, root: str | None = None,
                    command: str | None = None, fold: bool = True, graph_depth: int = 2) -> str:
    """The full markdown report.

    ``plots``: key -> file name of PNGs already written beside the report (see
    :func:`layerscope.render.plots.write_report_plots`); they are linked in their own section. ``root``: the
    folder source paths are shown relative to (default: the current directory). ``command``: the command line
    that regenerates the report, shown under the title. ``graph_depth``: the depth the layer-graph PNG was asked
    for; when the graph was drawn coarser (too big to read per layer), its caption says so and gives the
    command of the interactive HTML report.

    >>> import torch, layerscope
    >>> r = layerscope.analyze(torch.nn.Conv2d(3, 8, 3), input_size=8)
    >>> report_markdown(r).splitlines()[0]
    '# Conv2d'
    """
    import os

    from .plots import REPORT_PLOTS

    root = os.getcwd() if root is None else root
    out = [f"# {title or report.model}", ""]
    if command:
        out += [f"Generated by `{command}`.", ""]
    if not report.ok:
        first = report.errors[0]
        where = f" at `{_escape(first.module)}`" if first.module else ""
        out += [f"> **{len(report.errors)} shape error{'s' if len(report.errors) > 1 else ''}.** First: "
                f"**{first.code}**{where} ({_escape(first.title)}). Totals cover the layers traced (later layers use "
                "assumed shapes); see [Diagnostics](#diagnostics).", ""]
    out += ["## Summary", "", summary_markdown(report)]
    if plots:
        out += ["", "## Plots", ""]
        for key, (_, caption) in REPORT_PLOTS.items():
            note = graph_caption(report, graph_depth, command=command, drawn=key in plots) if key == "graph" else ""
            if key in plots:
                alt = caption + (f": blocks at module depth {_graph_plan_depth(report, graph_depth)}" if note else "")
                out += [f"### {caption}", ""] + ([note, ""] if note else []) + [f"![{alt}]({plots[key]})", ""]
            elif note:  # not drawn at all: say why and where to look
                out += [f"### {caption}", "", note, ""]
        out.pop()
    rf = receptive_field_section(report)
    if rf:
        out += ["", "## Receptive field", "", rf]
    out += ["", "## Where the cost is", ""]
    if report.layer_graph.scopes:
        depth = breakdown_depth(report)
        by_module = modules_cost_markdown(report, depth)
        if by_module:
            out += ["By top-level module:" if depth == 1 else f"By module (depth {depth}):", "", by_module, ""]
    out.append(top_layers_markdown(report, k=top_k, fold=fold))
    depth_note = f" (grouped to module depth {max_depth})" if max_depth is not None else ""
    out += ["", f"## Layers{depth_note}", "", layer_table_markdown(report, max_depth=max_depth, root=root, fold=fold)]
    out += ["", "## Diagnostics", ""]
    out.append(diagnostics_markdown(report, root=root) if report.diagnostics else "None.")
    return "\n".join(out).rstrip() + "\n"
