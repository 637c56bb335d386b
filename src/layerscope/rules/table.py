"""The op table: every canonical op layerscope knows, one entry each. No torch here.

An entry (:class:`OpSpec`) says, for one canonical op name (what :func:`~layerscope.rules.canonical_name`
returns: ``conv2d``, ``add``, ``getitem``...):

- ``family``: what kind of op it is (``conv``, ``elementwise_binary``, ``matmul``, ``concat``, ``view``...).
  Analyzers, explainers, recovery, lints and the tracer ask the family (:func:`family`, :func:`in_family`),
  never a list of op names of their own;
- ``signature``: its positional argument names, so that arguments are read **by name** whatever the calling
  convention (:func:`bind`; ``torch.convolution``'s 7th argument is ``transposed``, ``conv2d``'s is ``groups``);
- ``cost``: the key of its forward cost rule in :mod:`layerscope.rules.ops` (None: no rule, the op is counted
  as unknown, never as zero); ``backward``: the key of its backward cost rule when it differs from ``cost``
  (``rules._registry.backward_rule(key)`` registers one, in ``rules/backward.py``; ``rules.lookup_backward(name)``
  finds it);
- ``rf``: its receptive-field step, how it maps spatial positions (``pointwise``, ``window``, ``global``,
  ``resize``, ``adaptive``, ``reshape``, ``reduce``, ``slice``, ``concat``, ``channel``, ``unknown``); a rule
  may refine it for one call (an adaptive pool to 1x1 is ``global``);
- ``facts``: what explainers, lints, the tracer and the studies need to know beyond the family (``new_dim`` for
  stack, ``additive`` for add/sub, ``needs_values`` for ops that read tensor values...). Every fact is
  catalogued once in :data:`FACTS` with its meaning; an entry or a query naming another fact is refused. A fact
  is declared on the entry (``facts=[...]``), or, for ops that share an entry line with ops that lack it, by one
  :func:`_fact` line at the end of this file.

Adding an op is one entry here (plus, for a new cost formula, one rule in ``ops.py``) and one test in
``tests/test_rules.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping, Sequence


@dataclass(frozen=True)
class OpSpec:
    name: str
    family: str
    cost: str | None = None
    rf: str = "pointwise"
    signature: tuple[str, ...] = ("input",)
    facts: frozenset[str] = frozenset()
    backward: str | None = None


#: every fact an entry may carry -> what it means (and who asks it)
FACTS: Mapping[str, str] = {
    "additive": "adds its operands (add, sub): a residual merge (lints)",
    "multiplicative": "multiplies its operands (mul, div): a gate (lints)",
    "new_dim": "joins its inputs along a new dimension (stack: explainers, recovery, receptive field)",
    "qkv": "attention over query, key and value arguments (receptive field: every key position reaches a query)",
    "batch_statistics": "normalizes with the batch's statistics in training (lints)",
    "needs_values": "reads tensor values, impossible on meta tensors (explainers: LS108)",
    "scalar_conversion": "Python's float(t) / int(t) / bool(t) (explainers name the conversion)",
    "causal_flag": "its is_causal argument masks the scores above the diagonal (analysis/attention.py: what a "
                   "causal kernel skips)",
    "activation_product": "may multiply two activations (QK^T, AV): its MACs in a node without parameters are "
                          "attention MACs, which grow like T^2 (seq_scaling.py)",
    "projects_qkv": "its MACs include the query/key/value and output projections; QK^T and AV are 2*N*L*S*E of "
                    "them (nn.MultiheadAttention's functional form: seq_scaling.py)",
    "device_move": "moves a tensor to a device: shapes do not change, done on meta (tracing/upper_bound.py)",
    "upper_bound": "its output size depends on the values: the tracer sizes it at its upper bound (handlers in "
                   "rules/data_dependent.py, LS130)",
    "index_values": "at its upper bound its output is every index of its input, in order: the values are known "
                    "and carried forward (tracing/upper_bound.py)",
    "routes_tokens": "what a mixture-of-experts router uses to pick each expert's tokens: a value read there is "
                     "data-dependent routing (analysis/value_hints.py, LS108 hint)",
    "routing_topk": "its indices are a router's top-k choice: marks a routing (tracing/upper_bound.py)",
    "routing_one_hot": "turns marked top-k indices into a routing mask over the experts (tracing/upper_bound.py)",
    "routing_layout": "a routing mask stays one through it (layout, casts, indexing: tracing/upper_bound.py)",
    "routing_select": "on one expert's slice of a routing mask, it takes that expert's share of the token slots "
                      "(tracing/upper_bound.py)",
    "position_index": "makes position indices 0..n-1 (arange): compared across dims they build masks "
                      "(tracing/masks.py)",
    "orders_le": "true where its first operand is at most the second (le, lt): kv_idx <= q_idx is a causal mask "
                 "(tracing/masks.py)",
    "orders_ge": "true where its first operand is at least the second (ge, gt): q_idx >= kv_idx is a causal mask "
                 "(tracing/masks.py)",
    "lower_triangle": "keeps the lower triangle (tril): with diagonal <= 0 a causal mask (tracing/masks.py)",
    "upper_triangle": "keeps the upper triangle (triu): with diagonal >= 1 the blocked part of a causal mask "
                      "(tracing/masks.py)",
    "mask_union": "a union of masks (or, xor, max): the result is not known to be causal (tracing/masks.py)",
}

_TABLE: dict[str, OpSpec] = {}


def _known_facts(facts: Iterable[str]) -> frozenset[str]:
    got = frozenset(facts)
    unknown = got - set(FACTS)
    if unknown:
        raise ValueError(f"facts {sorted(unknown)} are not catalogued in rules.table.FACTS")
    return got


def _fact(fact: str, names: Iterable[str]) -> None:
    """Give the entries of ``names`` (already in the table) one more fact: for ops that share an entry line
    with ops that do not have it."""
    _known_facts([fact])
    for name in names:
        entry = _TABLE[name]  # KeyError: a fact for an op the table does not have
        _TABLE[name] = replace(entry, facts=entry.facts | {fact})


def _add(family: str, names: Iterable[str], *, cost: str | None = None, rf: str = "pointwise",
         signature: Sequence[str] = ("input",), facts: Iterable[str] = (), backward: str | None = None) -> None:
    for name in names:
        if name in _TABLE:
            raise ValueError(f"op {name!r} is in the op table twice")
        _TABLE[name] = OpSpec(name, family, cost, rf, tuple(signature), _known_facts(facts), backward)


# ------------------------------------------------------------------------------------------ weight layers
_add("conv", ["conv1d", "conv2d", "conv3d"], cost="conv", rf="window",
     signature=("input", "weight", "bias", "stride", "padding", "dilation", "groups"))
# torch.convolution / aten._convolution: one op for both directions, ``transposed`` says which
_add("convolution", ["convolution", "_convolution"], cost="conv", rf="window",
     signature=("input", "weight", "bias", "stride", "padding", "dilation", "transposed", "output_padding",
                "groups"))
_add("conv_transpose", ["conv_transpose1d", "conv_transpose2d", "conv_transpose3d"], cost="conv_transpose",
     rf="window", signature=("input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation"))
_add("linear", ["linear"], cost="linear", rf="channel", signature=("input", "weight", "bias"))
_add("bilinear", ["bilinear"], cost="bilinear", rf="channel", signature=("input1", "input2", "weight", "bias"))
_add("matmul", ["matmul", "mm", "bmm"], cost="matmul", rf="global", signature=("input", "other"))
_add("addmm", ["addmm", "baddbmm", "addbmm", "addmv", "addr"], cost="addmm", rf="global",
     signature=("input", "mat1", "mat2", "beta", "alpha"))
_add("vector_product", ["mv", "dot", "vdot", "inner", "outer", "ger"], cost="vector", rf="global",
     signature=("input", "other"))
_add("einsum", ["einsum"], cost="einsum", rf="global", signature=("equation",))
_add("attention", ["scaled_dot_product_attention"], cost="sdpa", rf="global",
     signature=("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale"), facts=["qkv"])
_add("attention", ["multi_head_attention_forward"], cost="mha", rf="global",
     signature=("query", "key", "value", "embed_dim_to_check", "num_heads"))
_add("rnn", ["lstm", "gru", "rnn_tanh", "rnn_relu"], cost="rnn", rf="global",
     signature=("input", "hx", "params", "has_biases", "num_layers", "dropout", "train", "bidirectional",
                "batch_first"))
# RNN cells: one time step (cost rule in rules/cells.py, registered by name)
_add("rnn_cell", ["lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell"], rf="global",
     signature=("input", "hx", "w_ih", "w_hh", "b_ih", "b_hh"))
_add("embedding_bag", ["embedding_bag"], cost="embedding_bag", rf="channel")

# ------------------------------------------------------------------------------------------ elementwise
_add("elementwise_binary", ["add", "sub"], cost="elementwise", signature=("input", "other", "alpha"),
     facts=["additive"])
_add("elementwise_binary", ["mul", "div"], cost="elementwise", signature=("input", "other"),
     facts=["multiplicative"])
_add("elementwise_binary", [
    "floor_divide", "remainder", "fmod", "pow", "maximum", "minimum", "fmax", "fmin", "where", "lerp", "addcmul",
    "addcdiv", "atan2", "hypot", "copysign", "xlogy", "eq", "ne", "lt", "le", "gt", "ge", "logical_and",
    "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor", "masked_fill", "logaddexp",
], cost="elementwise", signature=("input", "other"))
# binary too, but recovery and the explainers have never treated them as merges of two traced branches
_add("elementwise", ["float_power", "heaviside"], cost="elementwise", signature=("input", "other"))
_add("elementwise", [
    "neg", "abs", "exp", "exp2", "log", "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt", "reciprocal", "square",
    "sin", "cos", "tan", "tanh", "sigmoid", "erf", "erfc", "sign", "sgn", "round", "floor", "ceil", "trunc", "frac",
    "relu", "relu6", "gelu", "silu", "mish", "hardswish", "hardsigmoid", "hardtanh", "leaky_relu", "rrelu", "elu",
    "selu", "celu", "prelu", "softplus", "softsign", "logsigmoid", "log_sigmoid", "tanhshrink", "softshrink",
    "hardshrink", "threshold", "clamp", "clamp_min", "clamp_max", "logical_not", "bitwise_not", "nan_to_num",
    "isnan", "isinf", "isfinite", "atan", "asin", "acos", "sinh", "cosh", "asinh", "acosh", "atanh", "glu",
], cost="elementwise")
_add("softmax", ["softmax", "log_softmax", "softmin", "_softmax"], cost="softmax", rf="reduce",
     signature=("input", "dim"))

# ------------------------------------------------------------------------------------------ norms
_add("norm", ["batch_norm"], cost="batch_norm",
     signature=("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"),
     facts=["batch_statistics"])
_add("norm", ["layer_norm"], cost="norm", signature=("input", "normalized_shape", "weight", "bias", "eps"))
_add("norm", ["group_norm"], cost="norm", rf="reduce", signature=("input", "num_groups", "weight", "bias", "eps"))
_add("norm", ["instance_norm"], cost="norm", rf="reduce",
     signature=("input", "running_mean", "running_var", "weight", "bias", "use_input_stats", "momentum", "eps"))
_add("norm", ["rms_norm"], cost="norm", rf="reduce", signature=("input", "normalized_shape", "weight", "eps"))
_add("norm", ["local_response_norm"], cost="lrn", signature=("input", "size", "alpha", "beta", "k"))
_add("normalize", ["normalize"], cost="normalize", signature=("input", "p", "dim", "eps"))

# ------------------------------------------------------------------------------------------ pooling, resampling
_POOL_SIG = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode")
_add("pool", ["max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
              "max_pool3d_with_indices"], cost="max_pool", rf="window", signature=_POOL_SIG)
_add("pool", ["avg_pool1d", "avg_pool2d", "avg_pool3d"], cost="avg_pool", rf="window",
     signature=("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"))
_add("pool", ["lp_pool1d", "lp_pool2d", "lp_pool3d"], cost="lp_pool", rf="window",
     signature=("input", "norm_type", "kernel_size", "stride", "ceil_mode"))
_add("adaptive_pool", ["adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
                       "adaptive_max_pool2d", "adaptive_max_pool3d", "adaptive_max_pool1d_with_indices",
                       "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices"],
     cost="adaptive_pool", rf="adaptive", signature=("input", "output_size"))
_add("reduce", ["mean", "sum", "nansum", "nanmean", "amax", "amin", "var", "std", "var_mean", "std_mean", "norm",
                "logsumexp", "prod", "argmax", "argmin", "cumsum", "cumprod", "count_nonzero", "median", "topk",
                "sort", "argsort", "aminmax", "max", "min", "linalg_vector_norm", "vector_norm"],
     cost="reduce", rf="reduce", signature=("input", "dim"))
_add("reduce", ["all", "any"], cost="reduce", rf="reduce", signature=("input", "dim"), facts=["needs_values"])
_add("resize", ["interpolate", "upsample"], cost="interpolate", rf="resize",
     signature=("input", "size", "scale_factor", "mode", "align_corners"))
_add("resize", ["upsample_nearest", "upsample_bilinear"], cost="interpolate", rf="resize",
     signature=("input", "size", "scale_factor"))
_add("shuffle", ["pixel_shuffle"], cost="pixel_shuffle", rf="resize", signature=("input", "upscale_factor"))
_add("shuffle", ["pixel_unshuffle"], cost="pixel_unshuffle", rf="window", signature=("input", "downscale_factor"))
_add("pad", ["pad"], cost="pad", rf="window", signature=("input", "pad", "mode", "value"))

# ------------------------------------------------------------------------------------------ layout (no arithmetic)
_add("reshape", ["view", "reshape"], cost="view", rf="reshape", signature=("input", "*shape"))
_add("view", ["flatten", "unflatten", "squeeze", "unsqueeze", "view_as", "reshape_as", "ravel", "real", "imag",
              "view_as_real"], cost="view", rf="reshape")
_add("permute", ["permute"], cost="view", rf="reshape", signature=("input", "dims"))
_add("permute", ["transpose"], cost="view", rf="reshape", signature=("input", "dim0", "dim1"))
_add("permute", ["movedim"], cost="view", rf="reshape", signature=("input", "source", "destination"))
_add("permute", ["t", "T", "mT", "H", "mH", "adjoint"], cost="view", rf="reshape")
_add("expand", ["expand", "expand_as", "broadcast_to"], cost="view", rf="reshape")
# layouts whose position mapping the shapes cannot prove: the receptive field is lost through them
_add("opaque_layout", ["unfold", "fold", "as_strided", "view_as_complex"], cost="view", rf="reshape")
# the same data as the input (the tracer makes no node when shape and dtype are unchanged)
_add("alias", ["contiguous", "detach", "to", "type", "type_as", "half", "double", "bfloat16", "clone", "cpu",
               "cuda", "requires_grad", "data", "identity", "stop_gradient"], cost="copy")
# ``float(t)``, ``int(t)``, ``bool(t)``: Python's conversions read the value
_add("alias", ["float"], cost="copy", facts=["needs_values", "scalar_conversion"])
_add("copy", ["int", "bool"], cost="copy", facts=["needs_values", "scalar_conversion"])
_add("copy", ["long"], cost="copy")
# a lookup: free forward like a copy, but its weight gradient is a scatter-add of the output gradient
_add("copy", ["embedding"], cost="copy", signature=("input", "weight", "padding_idx"), backward="embedding")
_add("copy", ["repeat", "repeat_interleave", "tile", "roll", "flip", "fliplr", "flipud", "rot90", "tril", "triu",
              "zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like", "new_zeros",
              "new_ones", "new_empty", "new_full", "new_tensor", "fill", "zero", "copy", "channel_shuffle",
              "native_channel_shuffle", "one_hot", "index_select", "gather", "scatter", "scatter_add",
              "index_put", "index_add", "index_copy", "masked_scatter", "take_along_dim", "diag", "diagonal",
              "diag_embed", "setitem", "bucketize", "searchsorted"], cost="copy")
# identity in eval; their ``inplace=True`` is not an in-place result of the traced graph
_add("dropout", ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"],
     cost="copy")
_add("copy", ["nonzero", "unique", "masked_select"], cost="copy", facts=["needs_values"])
_add("slice", ["getitem"], cost="slice", rf="slice", signature=("input", "index"))
_add("slice", ["narrow"], cost="slice", rf="slice", signature=("input", "dim", "start", "length"))
_add("slice", ["select"], cost="slice", rf="slice", signature=("input", "dim", "index"))
_add("slice", ["split", "split_with_sizes", "chunk", "tensor_split"], cost="slice", rf="slice",
     signature=("input", "split_size_or_sections", "dim"))
_add("slice", ["unbind"], cost="slice", rf="slice", signature=("input", "dim"))
_add("slice", ["hsplit", "vsplit", "dsplit"], cost="slice", rf="slice")
_add("concat", ["cat"], cost="concat", rf="concat", signature=("tensors", "dim"))
_add("stack", ["stack"], cost="concat", rf="concat", signature=("tensors", "dim"), facts=["new_dim"])
_add("stack", ["hstack", "vstack", "dstack", "column_stack"], cost="concat", rf="concat", signature=("tensors",))
# tensors made from nothing traced (inside a module forward, e.g. an RNN's zero initial state)
_add("factory", ["zeros", "ones", "empty", "full", "arange", "range", "linspace", "logspace", "eye", "tensor",
                 "as_tensor", "scalar_tensor", "rand", "randn", "randint", "randperm", "empty_strided",
                 "tril_indices", "triu_indices", "from_numpy", "normal", "bernoulli", "multinomial"],
     cost="factory", rf="unknown")
# reading a tensor's values: impossible on meta tensors (no cost rule: never traced to the end)
_add("value", ["item", "index", "tolist", "numpy", "len", "equal", "allclose"], rf="unknown", facts=["needs_values"])
# torch._assert: the model's own shape check (no cost rule: it only raises or passes)
_add("assertion", ["_assert"], rf="unknown", signature=("condition", "message"))
# sizes decided by the values, and index bookkeeping (cost rules registered by name in rules/data_dependent.py)
_add("data_dependent", ["argwhere", "unique_consecutive", "bincount"], rf="unknown")
_add("data_dependent", ["nms"], rf="unknown", signature=("boxes", "scores", "iou_threshold"))

# ------------------------------------------------------------------------------------------ facts across families
# (ops declared in shared lines above; see FACTS for what each fact means)
_fact("causal_flag", ["scaled_dot_product_attention"])
_fact("activation_product", ["matmul", "mm", "bmm", "einsum", "baddbmm", "scaled_dot_product_attention"])
_fact("projects_qkv", ["multi_head_attention_forward"])
_fact("device_move", ["cpu", "cuda", "to"])
_fact("upper_bound", ["nonzero", "argwhere", "where", "masked_select", "getitem", "setitem", "unique",
                      "unique_consecutive", "nms"])
_fact("index_values", ["nonzero", "argwhere", "where"])
_fact("routes_tokens", ["nonzero", "masked_select", "unique", "argwhere", "where", "index", "bincount"])
_fact("routing_topk", ["topk"])
_fact("routing_one_hot", ["one_hot"])
_fact("routing_layout", ["permute", "transpose", "getitem", "select", "squeeze", "unsqueeze", "view", "reshape",
                         "contiguous", "bool", "to", "flatten", "t", "movedim"])
_fact("routing_select", ["where"])
_fact("position_index", ["arange"])
_fact("orders_le", ["le", "lt"])
_fact("orders_ge", ["ge", "gt"])
_fact("lower_triangle", ["tril"])
_fact("upper_triangle", ["triu"])
_fact("mask_union", ["logical_or", "bitwise_or", "logical_xor", "bitwise_xor", "maximum", "fmax"])


#: canonical op name -> its entry
OPS: Mapping[str, OpSpec] = _TABLE


def spec(name: str) -> OpSpec | None:
    """The table entry of canonical op ``name`` (None: an op layerscope does not know)."""
    return _TABLE.get(name)


def family(name: str) -> str | None:
    entry = _TABLE.get(name)
    return entry.family if entry is not None else None


def in_family(name: str, *families: str) -> bool:
    entry = _TABLE.get(name)
    return entry is not None and entry.family in families


def has_fact(name: str, fact: str) -> bool:
    """True when op ``name`` carries ``fact`` (a fact not in :data:`FACTS` is refused: a typo is never False)."""
    if fact not in FACTS:
        raise ValueError(f"fact {fact!r} is not catalogued in rules.table.FACTS")
    entry = _TABLE.get(name)
    return entry is not None and fact in entry.facts


def ops_with_fact(fact: str) -> frozenset[str]:
    """The canonical names of the ops that carry ``fact``."""
    if fact not in FACTS:
        raise ValueError(f"fact {fact!r} is not catalogued in rules.table.FACTS")
    return frozenset(n for n, s in _TABLE.items() if fact in s.facts)


def bind(name: str, args: Sequence[Any], kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The call's arguments by name, by the op's signature: ``bind("convolution", args)["transposed"]``.

    Keyword arguments win; positional arguments beyond the signature are left out. A last name ``*shape``
    collects the remaining positional arguments (``x.view(2, -1)`` and ``x.view((2, -1))`` both give
    ``shape == (2, -1)``).
    """
    entry = _TABLE.get(name)
    sig = entry.signature if entry is not None else ()
    out: dict[str, Any] = {}
    for i, n in enumerate(sig):
        if n.startswith("*"):
            rest = tuple(args[i:])
            if len(rest) == 1 and isinstance(rest[0], (list, tuple)):
                rest = tuple(rest[0])
            if rest:
                out[n[1:]] = rest
            break
        if i < len(args):
            out[n] = args[i]
    out.update(kwargs or {})
    return out


__all__ = ["FACTS", "OPS", "OpSpec", "bind", "family", "has_fact", "in_family", "ops_with_fact", "spec"]
