"""Plain-text rendering for terminals: the per-layer table and the totals."""

from __future__ import annotations

from typing import Any

from ._format import human, human_bytes, shape


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def totals_lines(report: Any) -> list[str]:
    partial = "" if report.complete else " (partial: ops without a counting rule: " + ", ".join(
        sorted(report.unknown_ops)) + ")"
    if report.complete and report.upper_bound:
        partial = " (upper bound: data-dependent sizes at their maximum, see LS130)"
    if not report.traced:
        partial = " (the trace stopped at an error: the layers before it only)" + partial
    lines = [
        f"model: {report.model}  inputs: {', '.join(shape(t.shape) for t in report.inputs)}  mode: {report.mode}",
        f"params: {report.total_params:,} ({human(report.total_params)}; trainable {report.trainable_params:,}, "
        f"frozen {report.frozen_params:,})",
        f"MACs: {report.total_macs:,} ({human(report.total_macs)}){partial}",
        f"FLOPs: {report.total_flops:,} ({human(report.total_flops)})",
        f"memory: parameters {human_bytes(report.param_bytes)}, activations {human_bytes(report.activation_bytes)}"
        f" (sum of fresh outputs), inference peak {human_bytes(report.peak_activation_bytes)} live at once"
        + (f" at {report.peak_at}" if report.peak_at else ""),
    ]
    if report.kv_cache_bytes is not None:
        from .markdown import kv_cache_text

        lines.append(f"KV cache: {kv_cache_text(report)}")
    if report.causal_attention is not None:
        from .markdown import causal_text

        lines.append(f"causal attention: {causal_text(report)}")
    if report.receptive_field is not None and report.receptive_field.size:
        from .markdown import receptive_field_summary_text

        # what a position is (px, tokens, frames), global or causal, and why a field is unknown (issue 13)
        lines.append(f"receptive field: {receptive_field_summary_text(report)}")
    return lines


def report_text(report: Any, *, max_depth: int | None = None, diagnostics: bool = True, fold: bool = True) -> str:
    from .folding import REPEAT_KIND, fold_repeated_blocks
    from .table import grouped_rows

    from .markdown import _rf_text

    rows = []
    # deeper layers are folded into their parent module's row (which sums them); a run of identical blocks is
    # one "32 x Block" row (the run's totals, each block's cost in the formula) followed by its first block
    grouped = grouped_rows(report, max_depth)
    if fold:
        grouped = fold_repeated_blocks(report, grouped)
    for r in grouped:
        rows.append([
            "  " * max(r["depth"] - 1, 0) + r["name"], r["type"], shape(r["output_shape"]),
            f"{r['params']:,}", f"{r['macs']:,}" + ("" if r["complete"] else "*"), _rf_text(r.get("rf")),
            r["formula"] or "",
        ])
    out = [_table(["layer", "type", "output", "params", "MACs", "RF", "formula"], rows, {3, 4, 5}), ""]
    if any(r["kind"] == REPEAT_KIND for r in grouped):
        out += ["runs of identical blocks: one row with the run's totals, then the first block's layers "
                "(report.table has every layer; --no-fold shows them all)", ""]
    out += totals_lines(report)
    if diagnostics and report.diagnostics:
        out.append("")
        out.append("diagnostics:")
        for d in report.diagnostics:  # the hint on its own line keeps lines readable on a terminal
            where = f" {d.module}" if d.module else ""
            out.append(f"  {d.code} {d.severity}{where}: {d.text}")
            if d.hint:
                out.append(f"      hint: {d.hint}")
    return "\n".join(out)
