"""The op table and its rules, tested directly: no model, no tracer.

Shapes are checked against PyTorch's own meta kernels (the op run on meta tensors); costs against hand
arithmetic written next to each case.
"""

import ast
import os

import pytest
import torch
import torch.nn.functional as F

import layerscope
from layerscope.rules import OPS, Call, bind, canonical_name, family, lookup, registered_ops, rule
from layerscope.rules import _registry

M = "meta"


def t(*shape):
    return torch.empty(shape, device=M)


def _run(fn, args, kwargs):
    """The rule's verdict on ``fn(*args, **kwargs)`` and PyTorch's meta output."""
    out = fn(*args, **kwargs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    name, _ = canonical_name(fn)
    cost = lookup(name)(Call(name, args, kwargs, outs))
    return name, cost, outs[0]


# (id, fn, args, kwargs, MACs, FLOPs) -- the output shape comes from PyTorch's meta kernel
CASES = [
    # out 16x16: (32 + 2*1 - 3)//2 + 1 = 16; MACs = 16*16*8 * 3*3*3
    ("conv2d", F.conv2d, (t(1, 3, 32, 32), t(8, 3, 3, 3), t(8)), {"stride": 2, "padding": 1},
     16 * 16 * 8 * 27, 2 * 16 * 16 * 8 * 27 + 16 * 16 * 8),
    # positional, groups=4: weight (8, 8/4, 3, 3); MACs = 16*16*8 * 2*3*3
    ("conv2d_groups_positional", F.conv2d, (t(1, 8, 16, 16), t(8, 2, 3, 3), None, 1, 1, 1, 4), {},
     16 * 16 * 8 * 18, 2 * 16 * 16 * 8 * 18),
    # torch.convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    ("convolution_depthwise", torch.convolution,
     (t(1, 16, 8, 8), t(16, 1, 3, 3), None, [1, 1], [1, 1], [1, 1], False, [0, 0], 16), {},
     8 * 8 * 16 * 9, 2 * 8 * 8 * 16 * 9),
    # transposed: (5-1)*2 - 2*1 + 4 = 10; MACs = in_elements * C_out/groups * k = 4*5*5 * 2 * 4*4
    ("convolution_transposed", torch.convolution,
     (t(1, 4, 5, 5), t(4, 2, 4, 4), None, [2, 2], [1, 1], [1, 1], True, [0, 0], 1), {},
     100 * 2 * 16, 2 * 100 * 2 * 16),
    # (5-1)*2 - 2*1 + 3 + 1 = 10; MACs = 4*5*5 * 2 * 3*3
    ("conv_transpose2d", F.conv_transpose2d, (t(1, 4, 5, 5), t(4, 2, 3, 3)),
     {"stride": 2, "padding": 1, "output_padding": 1}, 100 * 2 * 9, 2 * 100 * 2 * 9),
    # (50 - 5)//2 + 1 = 23; MACs = 23*4 * 2*5
    ("conv1d", F.conv1d, (t(1, 2, 50), t(4, 2, 5)), {"stride": 2}, 23 * 4 * 10, 2 * 23 * 4 * 10),
    # (12 + 2*2 - 2*(3-1) - 1)//1 + 1 = 12 (dilation 2); MACs = 12*12*12 * 2*27
    ("conv3d_dilated", F.conv3d, (t(1, 2, 12, 12, 12), t(2, 2, 3, 3, 3)), {"padding": 2, "dilation": 2},
     12 ** 3 * 2 * 2 * 27, 2 * 12 ** 3 * 2 * 2 * 27),
    ("linear", F.linear, (t(2, 10), t(5, 10), t(5)), {}, 2 * 5 * 10, 2 * 100 + 10),
    ("matmul", torch.matmul, (t(2, 3, 4), t(2, 4, 5)), {}, 2 * 3 * 5 * 4, 2 * 120),
    ("addmm", torch.addmm, (t(3, 5), t(3, 4), t(4, 5)), {}, 3 * 5 * 4, 2 * 60 + 15),
    # Q K^T and A V: 2 heads * L 4 * S 6 * (E 8 + Ev 8); + scale and softmax (4 per score)
    ("sdpa", F.scaled_dot_product_attention, (t(1, 2, 4, 8), t(1, 2, 6, 8), t(1, 2, 6, 8)), {},
     2 * 4 * 6 * 16, 2 * 768 + 4 * 2 * 4 * 6),
    # (9 - 3)//2 + 1 = 4: 16 outputs * 9 comparisons
    ("max_pool2d", F.max_pool2d, (t(1, 1, 9, 9), 3, 2), {}, 0, 16 * 9),
    # (20 - 2*(3-1) - 1)//1 + 1 = 16 outputs * 3
    ("max_pool1d_dilated", F.max_pool1d, (t(1, 1, 20), 3), {"stride": 1, "dilation": 2}, 0, 16 * 3),
    ("avg_pool2d", F.avg_pool2d, (t(1, 1, 8, 8), 2), {}, 0, 16 * 4),
    # (9 + 2*1 - 3)//2 + 1 = 5, ceil_mode: ceil(8/2) + 1 = 5
    ("avg_pool2d_ceil", F.avg_pool2d, (t(1, 1, 9, 9), 3, 2, 1, True), {}, 0, 25 * 9),
    ("adaptive_avg_pool2d", F.adaptive_avg_pool2d, (t(1, 2, 8, 8), 2), {}, 0, 2 * 64),
    ("pad", F.pad, (t(1, 1, 5, 5), (1, 2, 0, 0)), {}, 0, 0),
    ("pixel_unshuffle", F.pixel_unshuffle, (t(1, 1, 4, 4), 2), {}, 0, 0),
    ("add", torch.add, (t(1, 4, 4), t(1, 4, 4)), {}, 0, 16),
    ("softmax", torch.softmax, (t(2, 5), 1), {}, 0, 3 * 10),
    ("batch_norm_eval", F.batch_norm, (t(2, 3, 4, 4), t(3), t(3), t(3), t(3)), {}, 0, 2 * 96),
    ("layer_norm_affine", F.layer_norm, (t(2, 6), (6,), t(6), t(6)), {}, 0, 6 * 12),
    ("interpolate_bilinear", F.interpolate, (t(1, 1, 4, 4),), {"scale_factor": 2, "mode": "bilinear"},
     0, 64 * 2 * 4),
    ("cat", torch.cat, ([t(1, 2, 3), t(1, 4, 3)], 1), {}, 0, 0),
    ("logaddexp", torch.logaddexp, (t(2, 3, 4), t(1, 3, 4)), {}, 0, 24),  # 1 FLOP per output element
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rule_against_meta_kernel_and_arithmetic(case):
    _, fn, args, kwargs, macs, flops = case
    name, cost, out = _run(fn, args, kwargs)
    assert (cost.macs, cost.flops) == (macs, flops)
    if cost.windows is not None:  # the window formula predicts PyTorch's output size on every axis
        n = len(cost.windows)
        assert tuple(w.size_out for w in cost.windows) == tuple(out.shape[-n:])
    assert OPS[name].rf == cost.spatial or family(name) == "adaptive_pool"


def test_convolution_groups_are_read_by_name():
    # torch.convolution's 7th argument is ``transposed``, not ``groups`` (it used to record groups=1)
    _, cost, _ = _run(torch.convolution, (t(1, 16, 8, 8), t(16, 1, 3, 3), None, [1, 1], [1, 1], [1, 1], False,
                                          [0, 0], 16), {})
    assert cost.attrs["groups"] == 16
    _, cost, _ = _run(F.conv2d, (t(1, 8, 16, 16), t(8, 2, 3, 3), None, 1, 1, 1, 4), {})
    assert cost.attrs["groups"] == 4
    assert bind("convolution", [0, 1, 2, 3, 4, 5, True, 7, 16]) == {
        "input": 0, "weight": 1, "bias": 2, "stride": 3, "padding": 4, "dilation": 5, "transposed": True,
        "output_padding": 7, "groups": 16}
    assert bind("conv_transpose2d", [0, 1], {"groups": 2})["groups"] == 2


def test_every_costed_op_has_its_rule_and_no_rule_is_orphaned():
    keys = {s.cost for s in OPS.values() if s.cost is not None}
    assert keys == set(_registry._COSTS)
    assert registered_ops() >= {n for n, s in OPS.items() if s.cost is not None}
    assert all(s.family and s.rf for s in OPS.values())


def test_backward_rules_live_on_the_table_slot():
    from layerscope.rules import backward, lookup_backward

    # the slot defaults to the forward cost key: one rule for every op sharing conv's forward rule
    assert lookup_backward("conv2d") is lookup_backward("_convolution") is backward.backward_conv
    assert lookup_backward("bmm") is lookup_backward("outer") is backward.backward_matmul
    # embedding shares copy's free forward rule but names its own backward key (a scatter-add)
    assert OPS["embedding"].cost == OPS["clone"].cost == "copy" and OPS["embedding"].backward == "embedding"
    assert lookup_backward("embedding") is backward.backward_embedding and lookup_backward("clone") is None
    assert lookup_backward("no_such_op") is None  # unknown, never zero
    with pytest.raises(ValueError, match="duplicate"):
        _registry.backward_rule("matmul")(backward.backward_matmul)
    with pytest.raises(ValueError, match="no op in the op table"):
        _registry.backward_rule("no_such_key")(backward.backward_matmul)
    assert "_BACKWARD" not in vars(backward) and not hasattr(backward, "backward_lookup")  # one home


def test_every_forward_rule_that_counts_macs_has_a_backward_rule_or_is_unknown():
    from layerscope.rules import backward

    # a cost key whose forward rule can count MACs (a product of two operands) must have a backward rule;
    # every other key's backward is one pass over the same elements (its forward FLOPs)
    mac_keys = {"conv", "conv_transpose", "linear", "bilinear", "matmul", "vector", "addmm", "einsum", "sdpa",
                "mha", "rnn"}
    assert mac_keys <= set(_registry._BACKWARD)
    assert set(_registry._BACKWARD) <= mac_keys | {"embedding", "embedding_bag"}
    # an op whose forward counts MACs and that has no backward rule is unknown (None), never zero
    x = torch.empty(4, 8, device="meta", requires_grad=True)
    w = torch.empty(8, 8, device="meta", requires_grad=True)
    out = torch.empty(4, 8, device="meta", requires_grad=True)
    call = _registry.Call("lstm_cell", (x, (x, x), w, w), {}, (out, out))
    assert backward.backward_cost(call, _registry.OpCost(256, 600)) is None
    relu = _registry.Call("relu", (x,), {}, (out,))
    assert backward.backward_cost(relu, _registry.OpCost(0, 32)) == _registry.OpCost(0, 32)


def test_duplicate_rules_are_refused_and_user_rules_work():
    with pytest.raises(ValueError, match="duplicate"):
        rule("conv2d")(lambda call: None)
    with pytest.raises(ValueError, match="duplicate"):
        _registry.cost("conv")(lambda call: None)
    name = "layerscope_test_op"
    rule(name)(lambda call: _registry.OpCost(1, 2))
    try:
        assert lookup(name)(None).flops == 2 and name in registered_ops()
    finally:
        _registry._RULES.pop(name)


@pytest.mark.parametrize("func, expected", [
    (torch.Tensor.__iadd__, ("add", True)), (torch.Tensor.__radd__, ("add", False)),
    (torch.Tensor.relu_, ("relu", True)), (torch.Tensor.__truediv__, ("div", False)),
    (torch.concat, ("cat", False)), (torch.Tensor.__getitem__, ("getitem", False)),
])
def test_canonical_names_are_in_the_table(func, expected):
    assert canonical_name(func) == expected and expected[0] in OPS


#: names that are ops of the table but mostly mean something else where they appear (dtypes)
_NOT_OP_NAMES = {"float", "half", "bfloat16", "double", "long", "int", "bool"}
# a family may share its op's name (linear, pad, einsum); one-letter names (T, H) are axis names
_VOCABULARY = {n for n in OPS if len(n) > 1} - {s.family for s in OPS.values()} - _NOT_OP_NAMES


def _is_op_name(node: ast.AST, *, names: tuple[str, ...] = ("op", "name")) -> bool:
    """``x.op`` or a variable in ``names``: what holds an op's name where modules test it (``x.name`` is a
    module's path, tested by prefix in the renderers)."""
    return (isinstance(node, ast.Attribute) and node.attr == "op") or (
        isinstance(node, ast.Name) and node.id in names)


def _op_names_in(node: ast.AST) -> list[str]:
    return [c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and c.value in _VOCABULARY]


def _vocabulary_in(source: str, rel: str = "<snippet>") -> list[str]:
    """The op-name vocabularies in one module's source: a collection of two or more op names (assigned, or
    tested against), a comparison of an op's name with a literal op name, a prefix test on an op's name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        hit: object = None
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            names = _op_names_in(node.value)
            if len(names) >= 2:
                hit = names
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("startswith", "endswith") and _is_op_name(node.func.value, names=("op",)):
            hit = ast.unparse(node)  # o.op.startswith("max_pool"): an op vocabulary by prefix
        elif isinstance(node, ast.Compare):
            consts = _op_names_in(node)
            literal = [c for c in node.comparators if isinstance(c, (ast.Set, ast.List, ast.Tuple))
                       and len(_op_names_in(c)) >= 2]
            if consts and (_is_op_name(node.left) or literal):
                hit = consts
        if hit:
            found.append(f"{rel}:{node.lineno}: {hit}")
    return found


def _vocabulary_findings() -> dict[str, list[str]]:
    src = os.path.dirname(layerscope.__file__)
    found: dict[str, list[str]] = {}
    for dp, _, files in os.walk(src):
        for f in files:
            path = os.path.join(dp, f)
            rel = os.path.relpath(path, src).replace(os.sep, "/")
            if not f.endswith(".py") or rel.startswith("rules/"):
                continue
            with open(path, encoding="utf-8") as fh:
                lines = _vocabulary_in(fh.read(), rel)
            if lines:
                found[rel] = lines
    return found


@pytest.mark.parametrize("source", [
    '_ACT_MATMULS = frozenset({"matmul", "mm", "bmm"})',
    '_LAYOUT: frozenset[str] = frozenset({"squeeze", "unsqueeze"})',
    '_HANDLERS = {"nonzero": f, "masked_select": g}',
    '_ROUTING = ["nonzero", "unique"]',
    'def f(op):\n    return op.op == "scaled_dot_product_attention"',
    'def f(op):\n    return op.op != "topk"',
    'def f(name):\n    return name in ("nonzero", "argwhere")',
    'def f(kind):\n    return kind in {"mm", "bmm"}',  # a literal of op names, whatever holds the name
    'def f(o):\n    return o.op.startswith("max_pool")',
    'def f(op):\n    return op.endswith("_pool2d")',
])
def test_the_vocabulary_scan_flags_a_reintroduced_op_name_list(source):
    assert _vocabulary_in(source), source


@pytest.mark.parametrize("source", [
    'from layerscope.rules.table import has_fact\ndef f(op):\n    return has_fact(op.op, "causal_flag")',
    'def f(op):\n    return in_family(op.op, "attention", "matmul")',  # families, not op names
    'MSG = "conv2d failed"',  # one op name in a message
    'def f(dtype):\n    return dtype in ("float", "half")',  # dtypes
    'def f(kind):\n    return kind == "mean"',  # one literal, and kind does not hold an op's name
    'def f(node):\n    return node.name.startswith("backbone")',  # a module path
])
def test_the_vocabulary_scan_lets_table_queries_and_prose_pass(source):
    assert not _vocabulary_in(source)


def test_no_op_name_vocabulary_outside_rules():
    """Modules outside rules/ ask the table (``family``, ``in_family``, ``has_fact``, ``ops_with_fact``) instead of
    listing op names; no module is exempt."""
    found = _vocabulary_findings()
    lines = [line for rel in sorted(found) for line in found[rel]]
    assert not lines, "ask layerscope.rules.table instead:\n" + "\n".join(lines)


def test_facts_are_catalogued_and_a_misspelt_fact_is_refused():
    from layerscope.rules import FACTS, has_fact, ops_with_fact
    from layerscope.rules import table

    assert all(s.facts <= set(FACTS) for s in OPS.values())
    assert all(ops_with_fact(f) for f in FACTS), "a catalogued fact no op carries"
    assert has_fact("scaled_dot_product_attention", "causal_flag") and not has_fact("bmm", "causal_flag")
    with pytest.raises(ValueError, match="not catalogued"):
        has_fact("add", "addtive")
    with pytest.raises(ValueError, match="not catalogued"):
        table._fact("addtive", ["add"])
    with pytest.raises(KeyError):
        table._fact("additive", ["layerscope_no_such_op"])


def test_every_upper_bound_op_has_one_handler():
    from layerscope.rules import data_dependent, ops_with_fact

    assert set(data_dependent._UPPER_BOUND) == ops_with_fact("upper_bound")
    with pytest.raises(ValueError, match="no 'upper_bound' fact"):
        data_dependent.upper_bound_rule("relu")(lambda name, args, kwargs: None)
    with pytest.raises(ValueError, match="duplicate"):
        data_dependent.upper_bound_rule("nms")(lambda name, args, kwargs: None)


_MASK = (2, 3, 4)


@pytest.mark.parametrize("name, fn, make", [
    ("nonzero", torch.nonzero, lambda m, x: ((m,), {})),
    ("nonzero", torch.nonzero, lambda m, x: ((m,), {"as_tuple": True})),
    ("argwhere", torch.argwhere, lambda m, x: ((m,), {})),
    ("where", torch.where, lambda m, x: ((m,), {})),
    ("masked_select", torch.masked_select, lambda m, x: ((x, m), {})),
    ("getitem", torch.Tensor.__getitem__, lambda m, x: ((x, (slice(None), m[0])), {})),
    ("unique", torch.unique, lambda m, x: ((x,), {"return_inverse": True, "return_counts": True})),
    ("unique_consecutive", torch.unique_consecutive, lambda m, x: ((x,), {"return_counts": True})),
])
def test_upper_bound_size_is_a_real_run_that_keeps_every_element(name, fn, make):
    from layerscope.rules.data_dependent import upper_bound_size

    # the oracle: the op run on CPU with every mask element True and every value distinct
    real_args, real_kwargs = make(torch.ones(_MASK, dtype=torch.bool), torch.arange(24.0).reshape(_MASK))
    real = fn(*real_args, **real_kwargs)
    args, kwargs = make(torch.empty(_MASK, dtype=torch.bool, device=M), t(*_MASK))
    out, why = upper_bound_size(name, args, kwargs)
    shapes = lambda o: [tuple(x.shape) for x in (o if isinstance(o, tuple) else (o,))]  # noqa: E731
    assert shapes(out) == shapes(real) and why["bound"] > 0
    assert upper_bound_size("where", (t(2), t(2), t(2)), {}) is None  # where(c, x, y): elementwise, exact


def test_an_op_added_by_one_entry_is_counted_explained_and_recovered():
    # logaddexp is one line of the table (family elementwise_binary): counted, and its broadcasting failure
    # is explained (LS101, a merge of two branches) and recovered like add's, with no other file touched
    import torch.nn as nn

    class Merge(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 4, 3), nn.Conv2d(3, 4, 5)

        def forward(self, x):
            return torch.logaddexp(self.a(x), self.b(x)).relu()

    report = layerscope.analyze(Merge(), input_size=16)
    (err,) = report.errors
    assert err.code == "LS101" and "logaddexp" in err.message, err  # two branches of x that differ: a merge
    # recovered: tracing went on after the failure (relu ran on the substituted output)
    assert report.nodes[-1].type == "ReLU" or report.nodes[-1].name.endswith("relu")
    assert "logaddexp" not in report.unknown_ops


class _Pair(torch.nn.Module):
    """``op`` applied after a Linear (so its input requires grad) or straight to the data (so it does not)."""

    def __init__(self, op, features: int, lead: bool) -> None:
        super().__init__()
        self.lead = torch.nn.Linear(features, features) if lead else torch.nn.Identity()
        self.op = op

    def forward(self, x):
        return self.op(self.lead(x))


class _Bmm(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(2, 16, 5))

    def forward(self, x):
        return torch.bmm(x, self.w)


class _Sdpa(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = torch.nn.Linear(16, 48)

    def forward(self, x):
        q, k, v = self.qkv(x).view(2, 7, 3, 2, 8).permute(2, 0, 3, 1, 4)
        return F.scaled_dot_product_attention(q, k, v)


# one module per backward rule of the table's slot; the data never requires grad (training_cost's rule)
BACKWARD_CASES = {
    "conv, first layer (weight gradient only)": (lambda: torch.nn.Conv2d(3, 8, 3, stride=2), (2, 3, 16, 16)),
    "conv, input needs grad": (lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.Conv2d(4, 8, 3)),
                               (2, 3, 16, 16)),
    "conv_transpose": (lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.ConvTranspose2d(4, 6, 3, 2)),
                       (2, 3, 8, 8)),
    "linear, first and second": (lambda: _Pair(torch.nn.Linear(16, 4), 16, lead=True), (3, 5, 16)),
    "bmm": (_Bmm, (2, 7, 16)),
    "sdpa": (_Sdpa, (2, 7, 16)),
}


@pytest.mark.parametrize("case", list(BACKWARD_CASES))
def test_backward_rules_match_flop_counter_mode(case):
    # FlopCounterMode counts 2 FLOPs per MAC of conv/mm/bmm, forward and backward. It runs on a meta copy:
    # there sdpa is its math decomposition (bmm), while CPU's fused sdpa kernel is not counted by it at all
    from torch.utils.flop_counter import FlopCounterMode

    from layerscope.tracing import meta_copy

    build, shape = BACKWARD_CASES[case]
    model = build()
    with FlopCounterMode(display=False) as counter:
        meta_copy(model)(torch.empty(shape, device="meta")).sum().backward()
    cost = layerscope.training_cost(model, inputs=torch.empty(shape, device="meta"), optimizer="sgd")
    assert cost.backward_macs > 0 and cost.complete
    assert 2 * (cost.forward_macs + cost.backward_macs) == counter.get_total_flops()


def test_embedding_backward_is_a_scatter_add_of_the_output_gradient():
    # embedding_dense_backward adds each of the 2*5 output rows (8 wide) into the weight gradient
    model = torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Linear(8, 3))
    cost = layerscope.training_cost(model, inputs=torch.zeros(2, 5, dtype=torch.long), optimizer="sgd")
    rows = cost.table.set_index("name")
    assert rows.loc["0", "backward_macs"] == 0 and rows.loc["0", "backward_flops"] == 2 * 5 * 8
