"""The Report: pure data about one analyzed model. Renderers and the CLI read it; nothing flows back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping

from .diagnostics import Diagnostic
from .graph import Graph, Node, TensorInfo

SCHEMA_VERSION = 1

CONVENTION = (
    "MACs count multiply-accumulates of conv, transposed conv, linear, matmul/einsum and attention "
    "(torchvision's convention; bias adds are not MACs). FLOPs count all arithmetic: 2 per MAC plus bias adds, "
    "norms, activations, pooling and elementwise ops (1 per element; softmax 3; eval BatchNorm 2; other norms 4, "
    "+2 affine)."
)

TABLE_COLUMNS = [
    "name", "type", "kind", "depth", "input_shape", "output_shape", "params", "macs", "flops",
    "activation_bytes", "formula", "rf", "jump", "start", "complete", "call", "source",
]


@dataclass(frozen=True)
class Report:
    """What layerscope found about one model at one input size.

    >>> import torch, layerscope
    >>> report = layerscope.analyze(torch.nn.Conv2d(3, 8, 3, stride=2), input_size=32)
    >>> report.total_params, report.total_macs      # 8*3*3*3 + 8 ; 15*15*8 * 3*3*3
    (224, 48600)
    """

    model: str
    layer_graph: Graph
    diagnostics: tuple[Diagnostic, ...]
    total_params: int
    trainable_params: int
    param_bytes: int
    buffer_bytes: int = 0
    params_by_dtype: Mapping[str, int] = field(default_factory=dict)
    mode: str = "eval"
    schema_version: int = SCHEMA_VERSION
    meta: Mapping[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ totals
    @property
    def nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.layer_graph if n.kind != "input")

    @property
    def inputs(self) -> tuple[TensorInfo, ...]:
        return tuple(n.outputs[0] for n in self.layer_graph if n.kind == "input")

    @property
    def outputs(self) -> tuple[TensorInfo, ...]:
        return self.layer_graph.outputs

    @property
    def frozen_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def total_macs(self) -> int:
        return sum(n.macs for n in self.nodes)

    @property
    def total_flops(self) -> int:
        return sum(n.flops for n in self.nodes)

    @property
    def complete(self) -> bool:
        """False when an op had no counting rule: MACs/FLOPs are then lower bounds ("partial")."""
        return all(n.complete for n in self.nodes)

    @property
    def status(self) -> str:
        if not self.traced:
            return "failed"
        return "complete" if self.complete else "partial"

    @property
    def traced(self) -> bool:
        """True when the forward pass ran to the end."""
        return not any(d.code == "LS100" or (d.code.startswith("LS10") and d.severity == "error")
                       for d in self.diagnostics) and bool(self.layer_graph.outputs)

    @property
    def unknown_ops(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for n in self.nodes:
            for op in n.unknown_ops:
                found[op] = found.get(op, 0) + 1
        return found

    @property
    def activation_bytes(self) -> int:
        """Bytes of every freshly allocated layer output (views and in-place results share memory)."""
        return sum(n.new_bytes for n in self.nodes)

    @property
    def input_bytes(self) -> int:
        return sum(t.nbytes for t in self.inputs)

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def convention(self) -> str:
        return CONVENTION

    # ------------------------------------------------------------------ views
    def rows(self) -> list[dict[str, Any]]:
        """One dict per recorded call, in execution order (what :attr:`table` shows)."""
        from .analysis.shapes import node_formula

        rf = self._rf_rows()
        out = []
        for n in self.nodes:
            r = rf.get(n.id)
            out.append({
                "name": n.name, "type": n.type, "kind": n.kind, "depth": n.depth,
                "input_shape": n.inputs[0].shape if n.inputs else None,
                "output_shape": n.outputs[0].shape if n.outputs else None,
                "params": n.params, "macs": n.macs, "flops": n.flops, "activation_bytes": n.new_bytes,
                "formula": node_formula(n), "rf": r[0] if r else None, "jump": r[1] if r else None,
                "start": r[2] if r else None, "complete": n.complete, "call": n.call, "source": n.source,
            })
        return out

    def _rf_rows(self) -> dict[int, tuple]:
        analysis = self._fields
        return analysis.rows() if analysis is not None else {}

    @cached_property
    def _fields(self) -> Any:
        """The receptive-field pass over the graph, computed once per Report."""
        try:
            from .analysis.receptive_field import analyze_fields
        except ImportError:
            return None
        return analyze_fields(self.layer_graph)

    @property
    def receptive_field(self) -> Any:
        """The :class:`~layerscope.analysis.receptive_field.ReceptiveField` of the model's first output."""
        return self._fields.output_field(0)

    def receptive_field_of(self, name: str) -> Any:
        """The receptive field of module ``name``'s output (a leaf layer, a container such as ``layer3``,
        or an op node such as ``layer1.0/add``)."""
        return self._fields.field_of(name)

    @cached_property
    def table(self) -> Any:
        """A pandas DataFrame, one row per recorded call in execution order."""
        from .errors import require

        pd = require("pandas", "Report.table")
        return pd.DataFrame(self.rows(), columns=TABLE_COLUMNS)

    @cached_property
    def graph(self) -> Any:
        """The layer graph as a ``networkx.DiGraph`` (node ids in execution order, tensor data-flow edges)."""
        return self.layer_graph.to_networkx()

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model, "inputs": [t.shape for t in self.inputs], "status": self.status,
            "total_params": self.total_params, "trainable_params": self.trainable_params,
            "total_macs": self.total_macs, "total_flops": self.total_flops, "param_bytes": self.param_bytes,
            "activation_bytes": self.activation_bytes, "errors": len(self.errors),
            "warnings": sum(d.severity == "warning" for d in self.diagnostics),
        }

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version, "model": self.model, "mode": self.mode,
            "total_params": self.total_params, "trainable_params": self.trainable_params,
            "param_bytes": self.param_bytes, "buffer_bytes": self.buffer_bytes,
            "params_by_dtype": dict(self.params_by_dtype), "meta": dict(self.meta),
            "diagnostics": [d.to_dict() for d in self.diagnostics], "graph": self.layer_graph.to_dict(),
            "summary": {"total_macs": self.total_macs, "total_flops": self.total_flops,
                        "activation_bytes": self.activation_bytes, "status": self.status,
                        "convention": CONVENTION},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Report":
        from .errors import ConfigError

        if d.get("schema_version") != SCHEMA_VERSION:
            raise ConfigError(f"report schema {d.get('schema_version')!r} is not {SCHEMA_VERSION}",
                              hint="regenerate the report with this version of layerscope", code="LS945")
        return cls(
            d["model"], Graph.from_dict(d["graph"]), tuple(Diagnostic.from_dict(x) for x in d["diagnostics"]),
            d["total_params"], d["trainable_params"], d["param_bytes"], d.get("buffer_bytes", 0),
            d.get("params_by_dtype", {}), d.get("mode", "eval"), d["schema_version"], d.get("meta", {}),
        )

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> "Report":
        return cls.from_dict(json.loads(text))

    # ------------------------------------------------------------------ rendering (delegated)
    def to_markdown(self, **kwargs: Any) -> str:
        from .render.markdown import report_markdown

        return report_markdown(self, **kwargs)

    def to_text(self, **kwargs: Any) -> str:
        from .render.text import report_text

        return report_text(self, **kwargs)

    def _repr_html_(self) -> str:
        from .render.html import report_html

        return report_html(self)

    def __repr__(self) -> str:
        s = self.summary()
        return (f"<Report {self.model}: {s['total_params']:,} params, {s['total_macs']:,} MACs ({self.status}), "
                f"{s['errors']} errors, {s['warnings']} warnings>")
