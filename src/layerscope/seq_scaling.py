"""Cost against sequence length: the token-model counterpart of :func:`layerscope.scale` (which varies a square
image resolution).

MACs are split by what they multiply: ``weight_macs`` (an activation times a parameter: the linear projections
and MLPs, which grow like T) and ``attention_macs`` (an activation times an activation: QK^T and AV inside
attention, which grow like T^2). The fitted exponents make the split visible: exactly 1 and 2 for a plain
transformer, and the total in between, closer to 1 while T is small against the width.

>>> import torch, layerscope
>>> net = torch.nn.Sequential(torch.nn.Embedding(100, 32), torch.nn.Linear(32, 32))
>>> round(layerscope.scale_seq_len(net, [128, 512, 2048]).exponent("macs"), 2)
1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Iterable, Mapping

from .graph import Node, OpRecord
from .rules.table import has_fact

SEQ_COLUMNS = ["seq_len", "params", "macs", "weight_macs", "attention_macs", "flops", "activation_bytes",
               "peak_activation_bytes", "status"]


def attention_macs_of(node: Node, op: OpRecord) -> int:
    """The MACs of ``op`` that multiply two activations (QK^T, AV), as opposed to an activation by a weight."""
    if has_fact(op.op, "projects_qkv") and len(op.inputs) >= 2 and len(op.inputs[0]) == 3:
        (L, N, E), S = op.inputs[0], op.inputs[1][0]
        return 2 * N * L * S * E  # QK^T and AV across all heads; the rest are the projections
    if has_fact(op.op, "activation_product") and node.params == 0:
        return op.macs
    return 0


def split_macs(report: Any) -> tuple[int, int]:
    """``(weight_macs, attention_macs)`` of a report's nodes (they sum to ``report.total_macs``)."""
    attention = 0
    for n in report.nodes:
        for op in n.ops:
            attention += attention_macs_of(n, op)
    return report.total_macs - attention, attention


@dataclass(frozen=True)
class SequenceScalingStudy:
    """Cost of one model at several sequence lengths."""

    model: str
    rows: tuple[Mapping[str, Any], ...]

    @cached_property
    def table(self) -> Any:
        from .errors import require

        pd = require("pandas", "layerscope.scale_seq_len")
        return pd.DataFrame([dict(r) for r in self.rows], columns=SEQ_COLUMNS)

    def fit(self, metric: str = "macs") -> tuple[float, float]:
        """``(k, a)`` of ``metric = a * seq_len**k`` over the traced lengths."""
        from .scaling import fit_power_law

        ok = [r for r in self.rows if r["status"] != "failed"]
        return fit_power_law([r["seq_len"] for r in ok], [r[metric] for r in ok])

    @property
    def fittable(self) -> bool:
        """True when two or more lengths traced with positive MACs (a power law fits)."""
        try:
            self.fit("macs")
        except ValueError:
            return False
        return True

    def exponent(self, metric: str = "macs") -> float:
        """About 1 for ``weight_macs`` (MLPs, projections), 2 for ``attention_macs``; the total in between."""
        return self.fit(metric)[0]

    def _exponents(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for m in ("macs", "weight_macs", "attention_macs", "peak_activation_bytes"):
            try:
                out[m] = self.exponent(m)
            except ValueError:  # no attention at all, or one length
                out[m] = None
        return out

    def summary(self) -> str:
        ex = self._exponents()

        def f(k: float | None) -> str:
            return "-" if k is None else f"{k:.2f}"

        return (f"fitted exponents: MACs ~ T^{f(ex['macs'])} (weights x activations ~ T^{f(ex['weight_macs'])}, "
                f"attention QK^T/AV ~ T^{f(ex['attention_macs'])}), peak activation memory ~ "
                f"T^{f(ex['peak_activation_bytes'])}")

    def plot(self, ax: Any = None) -> Any:
        from .render.plots import plot_scaling

        table = self.table.rename(columns={"seq_len": "resolution"})
        fits = {}
        for m in ("macs", "activation_bytes"):
            try:
                fits[m] = self.fit(m)
            except ValueError:
                pass
        ax = plot_scaling(table, fits=fits, title=f"{self.model}: cost against sequence length", ax=ax)
        ax.set_xlabel("sequence length (tokens)")
        return ax

    def to_markdown(self, *, plot: str | None = None, title: str | None = None) -> str:
        from .render._format import human, human_bytes

        out = [f"# {title or self.model + ': cost against sequence length'}", "",
               "| tokens | params | MACs | weight MACs | attention MACs | FLOPs | peak activations | status |",
               "|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in self.rows:
            out.append(f"| {r['seq_len']} | {r['params']:,} | {r['macs']:,} ({human(r['macs'])}) | "
                       f"{human(r['weight_macs'])} | {human(r['attention_macs'])} | {human(r['flops'])} | "
                       f"{human_bytes(r['peak_activation_bytes'])} | {r['status']} |")
        out += ["", self.summary() + ". Weight MACs (linear layers, MLPs) grow like T, attention's QK^T and AV "
                "like T^2 (counted in full, also when the attention is causal)."]
        if plot:
            out += ["", f"![cost against sequence length]({plot})"]
        return "\n".join(out) + "\n"


def scale_seq_len(model: Any, seq_lens: Iterable[int], *, batch_size: int = 1,
                  progress: Callable[[int, int, str], None] | None = None, name: str | None = None,
                  **analyze_kwargs: Any) -> SequenceScalingStudy:
    """Analyze ``model`` (an ``nn.Module`` or a SPEC) at each sequence length: ``(batch, T)`` token ids for a
    model whose input layer is an embedding (or a Hugging Face model's own inputs at ``seq_len=T``)."""
    from .api import analyze
    from .errors import InputSpecError
    from .tracing.tokens import default_inputs, takes_token_ids

    label = name or (model.rpartition(":")[2] if isinstance(model, str) else type(model).__name__)
    if isinstance(model, str):
        from .loading import load_model

        model = load_model(model)
    lens = [int(t) for t in seq_lens]
    if not lens or any(t < 1 for t in lens):
        raise InputSpecError(f"sequence lengths {lens} must be one or more ints >= 1",
                             hint="e.g. --seq-len 128 512 2048", code="LS998")
    tokens = takes_token_ids(model)
    if not tokens and default_inputs(model) is None:
        raise InputSpecError(f"{type(model).__name__} does not take token ids (its input layer is not an "
                             "nn.Embedding) and declares no default input", hint="scale a token model, or use "
                             "layerscope.scale for image resolutions", code="LS998")
    rows = []
    for i, t in enumerate(lens):
        if tokens:
            rep = analyze(model, input_size=(batch_size, t), **analyze_kwargs)
        else:
            rep = analyze(model, batch_size=batch_size, seq_len=t, **analyze_kwargs)
        weight, attention = split_macs(rep)
        peak = getattr(rep, "peak_activation_bytes", None)
        rows.append({"seq_len": t, "params": rep.total_params, "macs": rep.total_macs, "weight_macs": weight,
                     "attention_macs": attention, "flops": rep.total_flops,
                     "activation_bytes": rep.activation_bytes,
                     "peak_activation_bytes": peak if peak is not None else rep.activation_bytes,
                     "status": rep.status})
        if progress is not None:
            progress(i + 1, len(lens), f"{label} @ {t} tokens")
    return SequenceScalingStudy(label, tuple(rows))
