"""Markdown rendering of a Report."""

from __future__ import annotations

from typing import Any

from ._format import human, human_bytes, shape


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def layer_table_markdown(report: Any, *, max_depth: int | None = None) -> str:
    lines = ["| layer | type | input | output | params | MACs | formula |", "|---|---|---|---|---:|---:|---|"]
    for r in report.rows():
        if max_depth is not None and r["depth"] > max_depth:
            continue
        lines.append(
            f"| `{_escape(r['name'])}` | {r['type']} | {shape(r['input_shape'])} | {shape(r['output_shape'])} | "
            f"{r['params']:,} | {r['macs']:,}{'' if r['complete'] else '*'} | {_escape(r['formula'] or '')} |"
        )
    return "\n".join(lines)


def report_markdown(report: Any, *, max_depth: int | None = None, title: str | None = None) -> str:
    s = report.summary()
    out = [f"# {title or report.model}", ""]
    out.append(f"- inputs: {', '.join(shape(t.shape) for t in report.inputs)} ({report.mode} mode)")
    out.append(f"- parameters: {s['total_params']:,} ({human(s['total_params'])}), trainable "
               f"{report.trainable_params:,}, frozen {report.frozen_params:,}")
    out.append(f"- MACs: {s['total_macs']:,} ({human(s['total_macs'])}); FLOPs: {s['total_flops']:,} "
               f"({human(s['total_flops'])}); status: {report.status}")
    out.append(f"- memory: parameters {human_bytes(report.param_bytes)}, activations "
               f"{human_bytes(report.activation_bytes)}")
    out.append(f"- diagnostics: {s['errors']} errors, {s['warnings']} warnings")
    out += ["", f"> {report.convention}", "", "## Layers", "", layer_table_markdown(report, max_depth=max_depth)]
    if report.diagnostics:
        out += ["", "## Diagnostics", ""]
        for d in report.diagnostics:
            where = f" `{d.module}`" if d.module else ""
            out.append(f"- **{d.code}** {d.severity}{where}: {_escape(d.message)}")
            if d.hint:
                out.append(f"  - hint: {_escape(d.hint)}")
    return "\n".join(out) + "\n"
