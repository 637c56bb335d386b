"""Regression tests for the tracer / numbers / false-alarm findings of
/work/shared/findings/new-user-2026-12.md (issue 9), each named by its finding id.

Oracles: eager CPU runs (output shapes, dtype errors), FlopCounterMode (RNN cells), hand arithmetic written
out, and the user's own model (never mutated)."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import warnings

import pytest
import torch
from torch import nn

import layerscope
from layerscope.errors import InputSpecError, TraceError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def codes(report):
    return [d.code for d in report.diagnostics]


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ------------------------------------------------------------------------------------------------ C1
class _Lazy(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 8, 3)
        self.fc = nn.LazyLinear(10)

    def forward(self, x):
        return self.fc(self.c(x).flatten(1))


def test_C1_lazy_linear_materialized_on_the_meta_copy():
    model = _Lazy()
    r = layerscope.analyze(model, input_size=16)
    # conv: 8*3*3*3 + 8 = 224; flatten: 8 * 14 * 14 = 1568 features -> fc: 1568*10 + 10 = 15690
    assert r.total_params == 224 + 15690
    assert r.status == "complete" and r.ok
    fc = r.table.set_index("name").loc["fc"]
    assert fc["type"] == "Linear" and fc["params"] == 15690 and fc["macs"] == 1568 * 10
    assert r.table.params.sum() == r.total_params
    assert "LS202" not in codes(r)
    # the user's model is still lazy: nothing was materialized on it
    assert isinstance(model.fc, nn.LazyLinear)
    assert isinstance(model.fc.weight, nn.parameter.UninitializedParameter)
    # the oracle: one real forward materializes the same sizes
    model(torch.randn(1, 3, 16, 16))
    assert sum(p.numel() for p in model.parameters()) == r.total_params


def test_C1_lazy_conv_and_unreachable_lazy_layer():
    r = layerscope.analyze(nn.Sequential(nn.LazyConv2d(4, 3), nn.ReLU()), input_size=8)
    assert r.total_params == 4 * 3 * 3 * 3 + 4 and r.total_macs == 6 * 6 * 4 * 3 * 3 * 3

    class Early(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.LazyLinear(2)

        def forward(self, x):
            raise ValueError("boom before the lazy layer")

    with pytest.raises(TraceError) as info:
        layerscope.analyze(Early(), input_size=(4,))
    assert info.value.code == "LS935" and "boom before the lazy layer" in info.value.message


# ------------------------------------------------------------------------------------------------ W1
def _small():
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 14 * 14, 10))


@pytest.mark.parametrize("how", ["script", "trace"])
def test_W1_torchscript_refused_with_coded_error(how):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = torch.jit.script(_small()) if how == "script" else torch.jit.trace(_small(), torch.randn(1, 3, 16, 16))
    with pytest.raises(TraceError) as info:
        layerscope.analyze(s, input_size=16)
    assert info.value.code == "LS933" and "eager" in info.value.hint


def test_W1_scripted_submodule_and_cli_budget(tmp_path, capsys):
    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.body = torch.jit.script(nn.Conv2d(3, 4, 3))

        def forward(self, x):
            return self.body(x)

    with pytest.raises(TraceError, match="submodule 'body'"):
        layerscope.analyze(Outer(), input_size=8)
    spec = _write(tmp_path, "scripted.py", "import torch, torch.nn as nn, warnings\n"
                  "warnings.simplefilter('ignore')\n"
                  "def build():\n    return torch.jit.script(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()))\n")
    from layerscope.cli import main

    rc = main(["check", f"{spec}:build", "-s", "32", "--max-macs", "1"])
    assert rc != 0  # on main a scripted model had 0 MACs and passed any MACs budget
    assert "LS933" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ W2
@dataclasses.dataclass
class _Out:
    logits: torch.Tensor


@dataclasses.dataclass(frozen=True)
class _Frozen:
    logits: torch.Tensor
    extra: tuple


class _Registered:
    def __init__(self, a, b):
        self.a, self.b = a, b


def _register_pytree():
    from torch.utils import _pytree

    try:
        _pytree.register_pytree_node(_Registered, lambda x: ([x.a, x.b], None), lambda v, _: _Registered(*v))
    except (ValueError, AttributeError):
        pass  # already registered


@pytest.mark.parametrize("kind", ["dataclass", "frozen_nested", "pytree"])
def test_W2_container_outputs_give_a_complete_report(kind):
    _register_pytree()

    class DC(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 2)
            self.aux = nn.Linear(8, 3)

        def forward(self, x):
            if kind == "dataclass":
                return _Out(self.fc(x))
            if kind == "frozen_nested":
                return [_Frozen(self.fc(x), ({"aux": self.aux(x)},))]
            return _Registered(self.fc(x), self.aux(x))

    r = layerscope.analyze(DC(), inputs=torch.randn(2, 8))
    n_out = 1 if kind == "dataclass" else 2
    assert r.status == "complete" and r.ok
    assert codes(r) == ([] if n_out == 2 else ["LS202"])  # the dataclass case does not call aux
    assert [t.shape for t in r.outputs] == [(2, 2), (2, 3)][:n_out]
    assert r.total_macs == 2 * 8 * 2 + (2 * 8 * 3 if n_out == 2 else 0)
    assert r.receptive_field is not None  # LS962 "no traced output" on main


def test_W2_failed_status_always_carries_its_diagnostic(tmp_path):
    class Nothing(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            self.fc(x)
            return None

    r = layerscope.analyze(Nothing(), inputs=torch.randn(2, 8))
    assert r.status == "failed" and not r.ok
    d = [d for d in r.diagnostics if d.severity == "error"]
    assert [x.code for x in d] == ["LS203"] and "NoneType" in d[0].message
    # the reason stays even when the user filters the LS2xx findings away
    r2 = layerscope.analyze(Nothing(), inputs=torch.randn(2, 8), ignore="LS2")
    assert r2.status == "failed" and "LS203" in codes(r2)
    from layerscope.cli import main

    spec = _write(tmp_path, "nothing.py", "import torch.nn as nn\n"
                  "class Net(nn.Module):\n    def forward(self, x):\n        return None\n")
    assert main(["check", f"{spec}:Net", "-s", "8"]) == 1


# ------------------------------------------------------------------------------------------------ W3
class _SpaceToDepth(nn.Module):
    """A space-to-depth rearrangement through view/permute: the receptive-field analysis cannot follow it
    (LS404), and the output is global (a mean over positions), so its field is unknown, not 16 px."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.c(x)
        n, c, h, w = x.shape
        x = x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, c * 4, h // 2, w // 2)
        return self.fc(x.mean((2, 3)))


def _build_sweep(width):
    if width == 0:
        raise ValueError("no such width")
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU())


def test_W3_unknown_receptive_field_is_unknown_in_compare_and_sweep():
    r = layerscope.analyze(_SpaceToDepth(), input_size=16)
    assert "LS404" in codes(r) and r.receptive_field.local_size == (None, None)
    cmp = layerscope.compare([r, layerscope.analyze(nn.Conv2d(3, 4, 3), input_size=16)], names=["s2d", "conv"])
    t = cmp.table
    assert t.rf.isna().tolist() == [True, False]  # on main: 16, the input size
    assert str(t.rf.dtype) == "Int64" and int(t.rf[1]) == 3  # counts stay integers next to an unknown
    assert "| - |" in cmp.to_markdown()
    df = layerscope.sweep(_build_sweep, {"width": [0, 4]}, input_size=8, executor=False)
    assert df.status.tolist() == ["failed", "complete"]
    for col in ("params", "macs", "flops", "rf"):
        assert str(df[col].dtype) == "Int64", col
    assert int(df.params[1]) == 4 * 3 * 3 * 3 + 4  # 112, not 112.0


def test_W3_failed_model_never_on_the_compare_frontier():
    class Boom(nn.Module):
        def forward(self, x):
            raise ValueError("forward boom")

    cmp = layerscope.compare([Boom(), nn.Conv2d(3, 4, 3)], names=["boom", "conv"], input_size=8)
    assert cmp.table.status.tolist() == ["failed", "complete"]
    assert cmp.pareto() == [False, True]  # Boom has 0 params and 0 MACs: it "dominated" on main


# ------------------------------------------------------------------------------------------------ W4
def test_W4_parametrizations_attributed_to_their_layer():
    from torch.nn.utils.parametrizations import spectral_norm, weight_norm

    m = nn.Sequential(weight_norm(nn.Linear(16, 32)), nn.ReLU(), spectral_norm(nn.Linear(32, 8)))
    r = layerscope.analyze(m, inputs=torch.randn(4, 16))
    # weight_norm: g (32, 1) + v (32, 16) + bias 32 = 576; spectral_norm: original (8, 32) + bias 8 = 264
    assert r.total_params == 576 + 264 == sum(p.numel() for p in m.parameters())
    t = r.table.set_index("name")
    assert t.loc["0", "type"] == "Linear" and t.loc["0", "params"] == 576
    assert t.loc["2", "type"] == "Linear" and t.loc["2", "params"] == 264
    assert r.table.params.sum() == r.total_params
    assert r.status == "complete" and "LS202" not in codes(r) and "LS201" not in codes(r)
    # the layers' MACs are those of plain linears: 4*16*32 and 4*32*8
    assert t.loc["0", "macs"] == 4 * 16 * 32 and t.loc["2", "macs"] == 4 * 32 * 8


def test_W4_legacy_weight_norm_counted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = nn.Sequential(torch.nn.utils.weight_norm(nn.Linear(16, 32)), nn.ReLU())
    r = layerscope.analyze(m, inputs=torch.randn(4, 16))
    assert r.status == "complete" and "LS201" not in codes(r)
    assert r.total_params == r.table.params.sum() == 32 + 32 * 16 + 32
    assert r.total_macs == 4 * 16 * 32


# ------------------------------------------------------------------------------------------------ W7
def _eager_fails(model, x):
    try:
        model(x)
    except RuntimeError:
        return True
    return False


@pytest.mark.parametrize("build", [
    lambda: nn.Linear(4, 4).half(),
    lambda: nn.Conv2d(3, 4, 3).half(),
    lambda: nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4).double()),
], ids=["linear_half", "conv_half", "linear_then_double"])
def test_W7_dtype_mismatch_reported_the_same_for_every_weight_op(build):
    model = build()
    x = torch.randn(1, 3, 8, 8) if isinstance(model, nn.Conv2d) else torch.randn(1, 4)
    with torch.no_grad():
        assert _eager_fails(model, x)  # the oracle: eager PyTorch refuses the float32 input
    r = layerscope.analyze(model, inputs=x)
    assert r.status == "failed" and not r.ok
    d = r.errors[0]
    assert d.code == "LS100" and "dtype" in d.message and "from parameter" in d.message


# ------------------------------------------------------------------------------------------------ W8
def test_W8_unbatched_conv_output_counts_its_activations():
    conv = nn.Conv3d(3, 4, 3)
    x = torch.randn(3, 8, 8, 8)  # C x D x H x W, no batch: Conv3d runs unbatched and squeezes its result
    r = layerscope.analyze(conv, inputs=x)
    with torch.no_grad():
        out = conv(x)
    assert r.outputs[0].shape == tuple(out.shape) == (4, 6, 6, 6)
    assert r.activation_bytes == out.numel() * 4 == 4 * 6 * 6 * 6 * 4  # 0 on main (the output is a view)


# ------------------------------------------------------------------------------------------------ F1
class _Logged(nn.Module):
    def __init__(self, returning=False):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3)
        self.stats = []
        if returning:
            self.c.register_forward_hook(lambda m, i, o: o[:, :2])
        else:
            self.c.register_forward_hook(lambda m, i, o: self.stats.append(o.abs().mean().item()))

    def forward(self, x):
        return self.c(x)


def test_F1_user_hook_reading_values_does_not_fail_the_model():
    model = _Logged()
    r = layerscope.analyze(model, input_size=16)
    assert r.status == "complete" and r.ok
    note = [d for d in r.diagnostics if d.code == "LS125"]
    assert len(note) == 1 and note[0].severity == "info" and note[0].module == "c"
    assert r.table.name.tolist() == ["c"]  # the hook's abs/mean are not layers of the model
    assert r.total_macs == 14 * 14 * 4 * 3 * 3 * 3
    assert model.stats == [] and len(model.c._forward_hooks) == 1  # the user's model untouched

    class Checked(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(3, 4, 3)

            def check(m, args):
                if args[0].shape[-1] != 32:
                    raise ValueError("this model wants 32 px")

            self.c.register_forward_pre_hook(check)

        def forward(self, x):
            return self.c(x)

    # a hook's own check failing (not a value read on meta) is shown as a warning, the model still analyzed
    d = [x for x in layerscope.analyze(Checked(), input_size=16).diagnostics if x.code == "LS125"]
    assert len(d) == 1 and d[0].severity == "warning" and "wants 32 px" in d[0].message


def test_user_hook_that_changes_the_output_is_kept():
    model = _Logged(returning=True)
    r = layerscope.analyze(model, input_size=16)
    with torch.no_grad():
        eager = model(torch.randn(1, 3, 16, 16))
    assert r.outputs[0].shape == tuple(eager.shape) == (1, 2, 14, 14)
    assert "LS125" not in codes(r)


# ------------------------------------------------------------------------------------------------ F2
class _ItemNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x):
        x = self.a(x)
        if x.sum().item() > 0:
            x = x * 2
        return self.b(x)


def test_F2_unused_parameters_not_reported_after_the_trace_stopped():
    r = layerscope.analyze(_ItemNet(), input_size=(4,))
    assert "LS108" in codes(r)
    assert "LS202" not in codes(r)  # on main: "2 parameter tensors were not used" (b.weight, b.bias)


# ------------------------------------------------------------------------------------------------ F3
_BN_FILE = ("import torch.nn as nn\n"
            "def build():\n"
            "    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())\n")


def test_F3_batchnorm_lint_not_blaming_the_default_batch(tmp_path, capsys):
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
    r = layerscope.analyze(model, input_size=16, mode="train")
    d = [x for x in r.diagnostics if x.code == "LS307"]
    assert len(d) == 1 and d[0].severity == "info" and "--batch-size" in d[0].hint
    # a batch of 1 the user asked for is still a warning
    r1 = layerscope.analyze(model, input_size=(1, 3, 16, 16), mode="train")
    assert [x.severity for x in r1.diagnostics if x.code == "LS307"] == ["warning"]
    r4 = layerscope.analyze(model, input_size=16, batch_size=4, mode="train")
    assert "LS307" not in codes(r4)
    from layerscope.cli import main

    spec = _write(tmp_path, "bn.py", _BN_FILE)
    assert main(["check", f"{spec}:build", "-s", "16", "--mode", "train", "--fail-on", "warning"]) == 0
    capsys.readouterr()


# ------------------------------------------------------------------------------------------------ F6
@pytest.mark.parametrize("cell", [nn.LSTMCell(8, 16), nn.GRUCell(8, 16), nn.RNNCell(8, 16),
                                  nn.RNNCell(8, 16, nonlinearity="relu")],
                         ids=["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_F6_rnn_cells_counted_like_flop_counter_mode(cell):
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(4, 8)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        cell(x)
    r = layerscope.analyze(cell, inputs=x)
    assert r.status == "complete"
    assert r.total_macs == counter.get_total_flops() // 2  # FlopCounterMode: 2 FLOPs per MAC of the addmm
    gates = {nn.LSTMCell: 4, nn.GRUCell: 3, nn.RNNCell: 1}[type(cell)]
    assert r.total_macs == 4 * gates * 16 * (8 + 16)  # batch * gate units * (input + hidden features)


def test_F6_partial_totals_do_not_fail_fail_on_warning(tmp_path, capsys):
    class Unknown(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            return torch.special.bessel_j0(self.fc(x))  # an op layerscope has no counting rule for

    r = layerscope.analyze(Unknown(), input_size=(8,))
    assert r.status == "partial"
    d = [x for x in r.diagnostics if x.code == "LS201"]
    assert len(d) == 1 and d[0].severity == "info"
    from layerscope.cli import main

    spec = _write(tmp_path, "partial.py", "import torch, torch.nn as nn\n"
                  "class Net(nn.Module):\n"
                  "    def __init__(self):\n        super().__init__(); self.fc = nn.Linear(8, 8)\n"
                  "    def forward(self, x):\n        return torch.special.bessel_j0(self.fc(x))\n")
    assert main(["check", f"{spec}:Net", "-s", "8", "--fail-on", "warning"]) == 0
    capsys.readouterr()


# ------------------------------------------------------------------------------------------------ M8
def test_M8_module_input_check_names_the_module():
    r = layerscope.analyze(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm1d(8)), input_size=16)
    d = r.errors[0]
    assert d.code == "LS100" and d.module == "1"
    assert "BatchNorm1d" in d.message and "expected 2D or 3D input" in d.message


def test_M8_missing_positional_argument_hint_is_about_the_inputs():
    class Two(nn.Module):
        def forward(self, x, y):
            return x + y

    d = layerscope.analyze(Two(), input_size=(4,)).errors[0]
    assert d.code == "LS100" and "positional argument" in d.message
    assert "table" not in d.hint and "inputs" in d.hint


# ------------------------------------------------------------------------------------------------ M9
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_M9_low_precision_model_gets_an_input_of_its_dtype(dtype):
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()).to(dtype)
    r = layerscope.analyze(model, input_size=16)
    assert r.status == "complete" and r.inputs[0].dtype == str(dtype).replace("torch.", "")
    forced = layerscope.analyze(model, input_size=16, dtype=torch.float32)
    d = forced.errors[0]
    assert d.code == "LS100" and "from parameter 0.weight" in d.message and "a constant" not in d.message
    # most parameters in low precision, norms kept in float32 (a common recipe): still a low-precision input
    mixed = nn.Sequential(nn.Conv2d(3, 8, 3).to(dtype), nn.BatchNorm2d(8))
    r = layerscope.analyze(mixed, input_size=16)
    assert r.inputs[0].dtype == str(dtype).replace("torch.", "") and r.ok


# ------------------------------------------------------------------------------------------------ M12
def test_M12_compiled_model_unwrapped_with_real_names():
    eager = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3))
    compiled = torch.compile(eager)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = layerscope.analyze(compiled, input_size=16)
    assert r.model == "Sequential"
    assert r.table.name.tolist() == ["0", "1", "2"]  # "_orig_mod.0" ... on main
    assert r.total_macs == layerscope.analyze(eager, input_size=16).total_macs
    assert not [w for w in caught if "dynamo" in str(w.filename) or "dynamo" in str(w.message).lower()]

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3)
            self.block = torch.compile(nn.Sequential(nn.ReLU(), nn.Conv2d(8, 8, 3)))

        def forward(self, x):
            return self.block(self.stem(x))

    outer = Outer()
    r = layerscope.analyze(outer, input_size=16)
    assert r.table.name.tolist() == ["stem", "block.0", "block.1"] and "LS202" not in codes(r)
    assert r.total_macs == 14 * 14 * 8 * 27 + 12 * 12 * 8 * 72
    assert type(outer.block).__name__ == "OptimizedModule"  # the user's model keeps its compiled child


# ------------------------------------------------------------------------------------------------ P4
def test_P4_python_api_habits_of_torchinfo_users():
    r = layerscope.analyze(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()), input_size=16)
    assert str(r) == r.to_text() and "Conv2d" in str(r)
    assert repr(r).startswith("<Report") and "\n" not in repr(r)
    deep = [nn.Conv2d(3 if i == 0 else 8, 8, 3, padding=1) for i in range(40)]
    a = layerscope.analyze(nn.Sequential(*deep[:20]), input_size=16)
    b = layerscope.analyze(nn.Sequential(*deep), input_size=16)  # 20 layers added
    d = layerscope.diff(a, b)
    assert len(repr(d)) < 200 and "changed" in repr(d)
    cmp = layerscope.compare([a, b], names=["r18", "r34"])
    assert len(repr(cmp)) < 200 and "r18" in repr(cmp)
    for kw, value, says in [("depth", 3, "depth"), ("input_data", torch.zeros(1, 3, 8, 8), "inputs="),
                            ("dtypes", [torch.float16], "dtype="), ("device", "cpu", "meta"),
                            ("bogus", 1, "help")]:
        with pytest.raises(InputSpecError) as info:
            layerscope.analyze(nn.Linear(2, 2), input_size=(2,), **{kw: value})
        assert info.value.code == "LS934" and says in info.value.hint, kw


# ------------------------------------------------------------------------------------------------ P6
def test_P6_by_module_table_keeps_zero_param_layers_so_activations_add_up():
    from layerscope.render.markdown import modules_cost_markdown

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.act = nn.ReLU()
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(8 * 8 * 8, 10)

        def forward(self, x):
            return self.fc(self.pool(self.act(self.conv(x))).flatten(1))

    r = layerscope.analyze(Net(), input_size=16)
    text = modules_cost_markdown(r, 1)
    assert "`act`" in text and "`pool`" in text  # 0 params, 0 MACs: dropped on main
    shares = [float(x) for x in re.findall(r"\(([\d.]+)%\) \|$", text, flags=re.M)]
    assert sum(shares) == pytest.approx(100, abs=0.5)


# ------------------------------------------------------------------------------------------------ P10
def test_P10_independent_bugs_anchored_on_their_layer_definitions():
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        import buggy
    finally:
        sys.path.pop(0)
    import inspect

    r = layerscope.analyze(buggy.TwoIndependentBugs(), input_size=32)
    lines, first = inspect.getsourcelines(buggy.TwoIndependentBugs)
    bug_line = {tag: first + i for i, line in enumerate(lines) for tag in ("BUG 1", "BUG 2") if tag in line}
    by_code = {d.code: d for d in r.errors}
    assert by_code["LS104"].source.endswith(f"buggy.py:{bug_line['BUG 1']}")
    assert by_code["LS102"].source.endswith(f"buggy.py:{bug_line['BUG 2']}")
    # the forward line that called them is kept
    assert by_code["LS104"].data["called_at"] == by_code["LS102"].data["called_at"]


@pytest.mark.parametrize("fn, flops", [
    (lambda x: torch.fft.rfft2(x), 2.5 * 3 * 256 * 8),          # 3 real 16x16 transforms: L = 256, log2 = 8
    (lambda x: torch.fft.fft(x, dim=-1), 5 * 48 * 16 * 4),      # 3*16 complex length-16 transforms
    (lambda x: torch.fft.rfft(x, n=32), 2.5 * 48 * 32 * 5),     # zero-padded to n = 32: log2 = 5
    (lambda x: torch.fft.irfft2(torch.fft.rfft2(x), s=x.shape[-2:]), 2 * 2.5 * 3 * 256 * 8),
], ids=["rfft2", "fft", "rfft_n", "irfft2"])
def test_F6_fft_counted_by_the_stated_convention(fn, flops):
    class F(nn.Module):
        def forward(self, x):
            return fn(x)

    r = layerscope.analyze(F(), input_size=(3, 16, 16))
    assert r.status == "complete" and "LS201" not in codes(r)  # partial on main
    assert r.total_flops == flops and r.total_macs == 0


def test_F2_unused_parameters_after_a_recovered_error_follow_it():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 8, 3)  # gets 3 channels: LS104, tracing continues on a substitute
            self.head = nn.Linear(8, 2)
            self.spare = nn.Linear(2, 2)  # never called

        def forward(self, x):
            return self.head(self.conv(x).mean((2, 3)))

    r = layerscope.analyze(Net(), input_size=16)
    assert "LS104" in codes(r) and r.outputs  # the trace reached the output
    d = [x for x in r.diagnostics if x.code == "LS202"]
    assert len(d) == 1 and d[0].data.get("follows_error") is True


def test_W8_outputs_that_are_views_of_fresh_memory_are_counted_once():
    # a Linear on (N, L, E) computes a 2-D matmul and returns a view of it; batch_first attention returns a
    # transposed view; a Permute of that Linear output is a view of the same memory (not counted again)
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 16)
            self.attn = nn.MultiheadAttention(16, 2, batch_first=True)

        def forward(self, x):
            y = self.fc(x)
            a, _ = self.attn(y, y, y, need_weights=False)
            return a.permute(0, 2, 1)

    r = layerscope.analyze(Block(), inputs=torch.randn(2, 5, 8))
    by = r.table.set_index("name")["activation_bytes"]
    assert by["fc"] == 2 * 5 * 16 * 4 and by["attn"] == 2 * 5 * 16 * 4  # 0 and 0 on main
    assert r.activation_bytes == 2 * (2 * 5 * 16 * 4)  # the permute is a view: no new memory
