"""The Report: pure data about one analyzed model. Renderers and the CLI read it; nothing flows back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Mapping

from .codes import TRACE_FAILURES
from .diagnostics import Diagnostic
from .errors import ConfigError, require
from .fields import FieldSummary, ReceptiveField
from .graph import Graph, Node, TensorInfo

# 2: the analyzers' per-node columns and the receptive-field summary are stored (a report renders without analysis)
SCHEMA_VERSION = 2

#: format -> ``renderer(report, **kwargs) -> str`` behind ``to_markdown``/``to_text``/``_repr_html_``. Filled by
#: ``layerscope.render`` (imported with the package), so this module depends on no renderer.
RENDERERS: dict[str, Callable[..., str]] = {}

CONVENTION = (
    "MACs count multiply-accumulates of conv, transposed conv, linear, matmul/einsum and attention "
    "(torchvision's convention; bias adds are not MACs). FLOPs count all arithmetic: 2 per MAC plus bias adds, "
    "norms, activations, pooling and elementwise ops (1 per element; softmax 3; eval BatchNorm 2; other norms 4, "
    "+2 affine). Attention scores are counted in full, also when the attention is causal."
)

TABLE_COLUMNS = [
    "name", "type", "kind", "depth", "input_shape", "output_shape", "params", "macs", "flops",
    "activation_bytes", "formula", "rf", "jump", "start", "complete", "call", "source",
]


@dataclass(frozen=True)
class CausalAttention:
    """Causal SDPA calls: counted in full, with what a kernel computing only the unmasked pairs would do."""

    calls: int  # causal SDPA calls
    full_macs: int  # their MACs as counted (every score pair)
    causal_macs: int  # what a kernel computing only the unmasked pairs does

    @property
    def skipped_macs(self) -> int:
        return self.full_macs - self.causal_macs


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
    #: what the analyzers computed per node id (``formula``, ``rf``, ``jump``, ``start``, ``local_rf``, ``global``)
    columns: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    #: the receptive-field summary (None: no analysis stored it)
    fields: FieldSummary | None = None

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
        if not self.complete:
            return "partial"
        # a data-dependent size took its upper bound (LS130): the totals are the worst case
        return "upper-bound" if self.upper_bound else "complete"

    @property
    def upper_bound(self) -> bool:
        """True when some op's output size depends on the data and was traced at its upper bound."""
        return any("upper_bound" in op.attrs for n in self.nodes for op in n.ops)

    @property
    def traced(self) -> bool:
        """True when the forward pass ran to the end."""
        return not any(d.code in TRACE_FAILURES and d.severity == "error" for d in self.diagnostics) and bool(self.layer_graph.outputs)

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
    def peak_activation_bytes(self) -> int | None:
        """The inference peak of live activations: the most bytes alive at once in one forward pass when each
        tensor is freed after its last reader (inputs, outputs and a returned KV cache included), as
        :func:`layerscope.analysis.memory.live_peak` found it when the report was made (None for a report that
        was not made by :func:`layerscope.analyze`)."""
        peak = self.meta.get("peak") if self.meta else None
        return int(peak["bytes"]) if peak else None

    @property
    def peak_at(self) -> str | None:
        """The layer at which the live activations peak."""
        peak = self.meta.get("peak") if self.meta else None
        node = peak.get("node") if peak else None
        return self.layer_graph[node].name if node is not None else None

    def _kv_cache(self) -> Mapping[str, Any] | None:
        got = self.meta.get("kv_cache") if self.meta else None
        return got if isinstance(got, Mapping) else None

    @property
    def kv_cache_bytes(self) -> int | None:
        """Bytes of the KV cache the forward returned (keys and values of every layer at the traced length), or
        None when it returned none (an encoder, ``use_cache=False``, a model without a cache object)."""
        cache = self._kv_cache()
        return int(cache["bytes"]) if cache else None

    @property
    def kv_cache_bytes_per_token(self) -> int | None:
        """KV-cache bytes per cached position of one sequence (what each generated token adds)."""
        cache = self._kv_cache()
        return int(cache["bytes_per_token"]) if cache else None

    @property
    def causal_attention(self) -> CausalAttention | None:
        """The causal attention calls (counted in full) and the MACs a kernel skipping the masked half would do,
        or None when there is none (see :mod:`layerscope.analysis.attention`)."""
        got = self.meta.get("causal_attention") if self.meta else None
        return CausalAttention(**got) if got else None

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
        return [dict(r) for r in self._rows]

    @cached_property
    def _rows(self) -> tuple[dict[str, Any], ...]:
        out = []
        for n in self.nodes:
            c = self.columns.get(n.id, {})
            out.append({
                "name": n.name, "type": n.type, "kind": n.kind, "depth": n.depth,
                "input_shape": n.inputs[0].shape if n.inputs else None,
                "output_shape": n.outputs[0].shape if n.outputs else None,
                "params": n.params, "macs": n.macs, "flops": n.flops, "activation_bytes": n.new_bytes,
                "formula": c.get("formula", ""), "rf": c.get("rf"), "jump": c.get("jump"), "start": c.get("start"),
                "complete": n.complete, "call": n.call, "source": n.source,
            })
        return tuple(out)

    @property
    def receptive_field(self) -> ReceptiveField | None:
        """The :class:`~layerscope.fields.ReceptiveField` of the model's first output (None when the trace did
        not reach an output)."""
        return self.fields.output if self.fields is not None else None

    def receptive_field_of(self, name: str) -> ReceptiveField:
        """The receptive field of module ``name``'s output (a leaf layer, a container such as ``layer3``,
        or an op node such as ``layer1.0/add``).

        A report read back from JSON analyzes its graph again for this query (not to render).
        """
        an = self.fields._analysis if self.fields is not None else None
        if an is None:
            raise ConfigError("this report holds no receptive-field analysis",
                              hint="make it with layerscope.analyze(...)", code="LS955")
        return an.field_of(name)

    @cached_property
    def table(self) -> Any:
        """A pandas DataFrame, one row per recorded call in execution order."""
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
            "activation_bytes": self.activation_bytes, "peak_activation_bytes": self.peak_activation_bytes,
            "kv_cache_bytes": self.kv_cache_bytes, "errors": len(self.errors),
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
            "columns": {str(k): {c: list(v) if isinstance(v, tuple) else v for c, v in cols.items()}
                        for k, cols in self.columns.items()},
            "fields": self.fields.to_dict() if self.fields is not None else None,
            "summary": {"total_macs": self.total_macs, "total_flops": self.total_flops,
                        "activation_bytes": self.activation_bytes, "status": self.status,
                        "convention": CONVENTION},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Report":
        if d.get("schema_version") != SCHEMA_VERSION:
            raise ConfigError(f"report schema {d.get('schema_version')!r} is not {SCHEMA_VERSION}",
                              hint="regenerate the report with this version of layerscope", code="LS945")
        graph = Graph.from_dict(d["graph"])
        return cls(
            d["model"], graph, tuple(Diagnostic.from_dict(x) for x in d["diagnostics"]),
            d["total_params"], d["trainable_params"], d["param_bytes"], d.get("buffer_bytes", 0),
            d.get("params_by_dtype", {}), d.get("mode", "eval"), d["schema_version"], d.get("meta", {}),
            {int(k): {c: tuple(v) if isinstance(v, list) else v for c, v in cols.items()}
             for k, cols in d.get("columns", {}).items()},
            FieldSummary.from_dict(d["fields"], graph) if d.get("fields") is not None else None,
        )

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> "Report":
        return cls.from_dict(json.loads(text))

    # ------------------------------------------------------------------ rendering (through RENDERERS)
    def to_markdown(self, **kwargs: Any) -> str:
        """The markdown report (:func:`layerscope.render.markdown.report_markdown`)."""
        return _render("markdown", self, **kwargs)

    def to_text(self, **kwargs: Any) -> str:
        """The terminal table and totals (:func:`layerscope.render.text.report_text`)."""
        return _render("text", self, **kwargs)

    def _repr_html_(self) -> str:
        return _render("html", self)

    def __str__(self) -> str:
        """``print(report)`` shows the layer table, as torchinfo users expect; ``repr`` stays one line."""
        return self.to_text()

    def __repr__(self) -> str:
        s = self.summary()
        return (f"<Report {self.model}: {s['total_params']:,} params, {s['total_macs']:,} MACs ({self.status}), "
                f"{s['errors']} errors, {s['warnings']} warnings>")


def _render(fmt: str, report: Report, **kwargs: Any) -> str:
    if fmt not in RENDERERS:  # only when layerscope.report was imported without the package
        raise ConfigError(f"no {fmt} renderer is registered", hint="import layerscope (or layerscope.render) first",
                          code="LS956")
    return RENDERERS[fmt](report, **kwargs)
