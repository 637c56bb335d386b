"""Tracer behaviour: what becomes a node, how it is named and wired, and that the user's model is untouched.

Expected values come from PyTorch itself (meta-kernel output shapes, ``numel``), from arithmetic written out
in comments, or from torchvision's structure; never from layerscope's own output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import layerscope
from layerscope import InputSpecError, Report
from layerscope.geometry import explain_output_size, output_size, trace_sizes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----------------------------------------------------------------------------------------- fixtures
class Block(nn.Module):
    """A container whose forward calls functional ops between its leaf modules."""

    def __init__(self, c: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        y = self.conv1(x)
        z = self.conv2(y)
        z = z + x  # residual: two in-edges
        z += y  # in-place add
        z = z * 2
        z = F.relu(z)  # activation as a function
        z = torch.sigmoid(z) * z
        return z


class FunctionalNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block(8)
        self.stem = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):  # x: (1, 3, 16, 16)
        x = self.stem(x)
        x = self.block(x)
        x = torch.cat([x, x], dim=1)  # (1, 16, 16, 16)
        x = F.interpolate(x, scale_factor=0.5, mode="nearest")  # (1, 16, 8, 8)
        m = x.mean(dim=1)  # (1, 8, 8)
        a = m @ m  # (1, 8, 8) @ (1, 8, 8)
        b = torch.matmul(a, m)
        c = torch.bmm(b, m)
        d = torch.einsum("bij,bjk->bik", c, m)
        q = d.view(1, 1, 8, 8)
        att = F.scaled_dot_product_attention(q, q, q)  # (1, 1, 8, 8)
        return att.flatten(1).reshape(1, 64)


def _same(report: Report) -> dict:
    """``report.to_dict()`` without ``source`` (the caller's file:line, which differs between call sites)."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k != "source"}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    return strip(report.to_dict())


# ---------------------------------------------------------------------------------- functional ops
def test_functional_ops_are_nodes_named_in_their_scope():
    report = layerscope.analyze(FunctionalNet(), input_size=(3, 16, 16))
    names = [n.name for n in report.nodes]
    # ops called by Block.forward are named in its scope; repeated names get _1
    for expected in ("block/add", "block/add_1", "block/mul", "block/relu", "block/sigmoid", "block/mul_1"):
        assert expected in names, names
    # ops of the top-level forward have no scope prefix
    for expected in ("cat", "interpolate", "mean", "matmul", "matmul_1", "bmm", "einsum", "view",
                     "scaled_dot_product_attention", "flatten", "reshape"):
        assert expected in names, names
    by_name = {n.name: n for n in report.nodes}
    assert by_name["block/add_1"].ops[0].inplace and not by_name["block/add"].ops[0].inplace
    assert all(by_name[n].kind == "op" for n in ("cat", "block/add", "einsum"))
    assert by_name["block.conv1"].kind == "module" and by_name["block.conv1"].type == "Conv2d"
    # shapes are PyTorch's: cat doubles the channels, interpolate halves H and W
    assert by_name["cat"].outputs[0].shape == (1, 16, 16, 16)
    assert by_name["interpolate"].outputs[0].shape == (1, 16, 8, 8)
    # matmul family: (1, 8, 8) @ (1, 8, 8) -> 1*8*8 outputs * 8 contracted = 512 MACs each
    for name in ("matmul", "matmul_1", "bmm", "einsum"):
        assert by_name[name].macs == 1 * 8 * 8 * 8, name
    # SDPA: Q K^T (1*1*8*8*8) + A V (1*1*8*8*8)
    assert by_name["scaled_dot_product_attention"].macs == 2 * 8 * 8 * 8
    assert report.complete


def test_conv_inside_conv2d_module_is_not_a_second_node():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    report = layerscope.analyze(net, input_size=(3, 10, 10))
    assert [n.type for n in report.nodes] == ["Conv2d", "ReLU"]
    conv = report.nodes[0]
    assert [o.op for o in conv.ops] == ["conv2d"]
    # 4 out channels * 8*8 positions * 3*3*3 = 6912 MACs
    assert conv.macs == 4 * 8 * 8 * 27


def test_module_called_twice_is_two_nodes_params_counted_once():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 16)

        def forward(self, x):
            return self.fc(torch.relu(self.fc(x)))

    net = Twice()
    report = layerscope.analyze(net, input_size=(16,))
    fc = [n for n in report.nodes if n.type == "Linear"]
    assert [n.call for n in fc] == [0, 1]
    assert [n.params for n in fc] == [16 * 16 + 16, 0]
    assert report.total_params == sum(p.numel() for p in net.parameters()) == 16 * 16 + 16
    assert report.total_macs == 2 * 16 * 16


def test_residual_add_has_two_in_edges():
    report = layerscope.analyze(FunctionalNet(), input_size=(3, 16, 16))
    g = report.graph
    ids = {n.name: n.id for n in report.nodes}
    add = ids["block/add"]
    assert g.in_degree(add) == 2
    # the branch (conv2) and the shortcut (the block's input, which the stem produced)
    assert set(g.predecessors(add)) == {ids["block.conv2"], ids["stem"]}


# ------------------------------------------------------------------------------------ eval / train
def test_inception_v3_eval_by_default_and_train_includes_aux_head():
    torchvision = pytest.importorskip("torchvision")
    net = torchvision.models.inception_v3(init_weights=False)
    assert net.training  # freshly built: training mode
    report = layerscope.analyze(net, input_size=299)  # batch 1: BatchNorm in train mode would raise
    assert report.ok and report.complete
    assert not any(n.name.startswith("AuxLogits") for n in report.nodes)
    assert net.training  # flag restored
    # train mode needs batch > 1 for BatchNorm (PyTorch's rule, not ours); compare per sample
    train = layerscope.analyze(net, input_size=299, mode="train", batch_size=2)
    assert train.ok and any(n.name.startswith("AuxLogits") for n in train.nodes)
    # the aux head on the 17x17x768 Mixed_6e output: avg_pool(5, stride 3) -> 5x5;
    # conv0 1x1 768->128: 5*5*128*768; conv1 5x5 128->768 -> 1x1: 768*128*5*5; fc 768->1000
    aux = 5 * 5 * 128 * 768 + 768 * 128 * 5 * 5 + 768 * 1000
    assert train.total_macs == 2 * (report.total_macs + aux)


def test_grad_context_does_not_change_the_result():
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        net = torchvision.models.resnet18()
    plain = _same(layerscope.analyze(net, input_size=64))
    with torch.no_grad():
        assert _same(layerscope.analyze(net, input_size=64)) == plain
    with torch.inference_mode():
        assert _same(layerscope.analyze(net, input_size=64)) == plain


def _attention_macs(n: int, l: int, s: int, e: int) -> int:
    # q, k, v projections: L*E*E + 2*S*E*E; Q K^T and A V: 2*L*S*E; out projection: L*E*E
    return n * (2 * l * e * e + 2 * s * e * e + 2 * l * s * e)


@pytest.mark.parametrize("ctx", [torch.no_grad, torch.inference_mode, torch.enable_grad])
def test_multihead_attention_fast_path_still_counts_matmuls(ctx):
    e, h, l, n = 64, 4, 10, 2
    mha = nn.MultiheadAttention(e, h, batch_first=True).eval()
    x = torch.randn(n, l, e)
    with ctx():
        report = layerscope.analyze(mha, inputs=(x, x, x))
    assert report.complete
    assert [node.name for node in report.nodes] == ["MultiheadAttention"]  # atomic: one node
    assert report.total_macs == _attention_macs(n, l, l, e)
    assert report.total_params == sum(p.numel() for p in mha.parameters())


def test_transformer_encoder_layer_fast_path_still_counts_matmuls():
    e, h, ffn, l, n = 64, 4, 128, 10, 2
    layer = nn.TransformerEncoderLayer(e, h, ffn, batch_first=True).eval()
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(e, h, ffn, batch_first=True), 2).eval()
    x = torch.randn(n, l, e)
    per_layer = _attention_macs(n, l, l, e) + n * 2 * l * e * ffn  # + linear1 and linear2
    with torch.no_grad():
        assert layerscope.analyze(layer, inputs=x).total_macs == per_layer
        assert layerscope.analyze(enc, inputs=x).total_macs == 2 * per_layer
        # a padding mask would send the encoder down the nested-tensor fast path
        mask = torch.zeros(n, l, dtype=torch.bool)
        report = layerscope.analyze(enc, inputs=x, kwargs={"src_key_padding_mask": mask})
    assert report.ok and report.complete and report.total_macs == 2 * per_layer
    assert torch.backends.mha.get_fastpath_enabled()  # the global switch is restored


# ------------------------------------------------------------------------- CPU models, no weight copy
def test_meta_copy_holds_meta_tensors_and_leaves_params_alone():
    from layerscope.tracing.tracer import meta_copy

    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 4))
    before = [id(p) for p in net.parameters()] + [id(b) for b in net.buffers()]
    work = meta_copy(net)
    assert all(t.is_meta for t in work.parameters()) and all(t.is_meta for t in work.buffers())
    assert [id(p) for p in net.parameters()] + [id(b) for b in net.buffers()] == before
    assert all(p.device.type == "cpu" for p in net.parameters())


def test_regnet_cpu_build_is_analyzed_without_copying_weights():
    pytest.importorskip("torchvision")
    # a fresh process so that the peak RSS is this model's: after the CPU build the weights are resident;
    # a copy of them during analyze would raise the peak by their size
    code = textwrap.dedent("""
        import resource, torch, torchvision, layerscope
        torch.set_num_threads(1)
        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * resource.getpagesize()
        def peak():
            # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent (pytest) across exec
            with open("/proc/self/status") as f:
                return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:"))
        # warm-up on a small model (imports, meta kernels, caches), so that the big model is analyzed once:
        # warming up on the big model itself would put any weight copy into the baseline peak
        layerscope.analyze(torchvision.models.regnet_x_400mf(), input_size=64)
        net = torchvision.models.regnet_y_8gf()
        weights = sum(p.numel() * p.element_size() for p in net.parameters())
        before = rss()
        peak0 = peak()
        report = layerscope.analyze(net, input_size=224)
        peak1 = peak()
        print(weights, max(peak1, before) - max(peak0, before), report.total_params)
    """)
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs Linux /proc")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    weights, growth, params = (int(v) for v in out.stdout.split())
    assert weights > 100e6  # regnet_y_8gf: 39.4M params * 4 bytes
    assert growth < weights / 4, (growth, weights)
    assert params * 4 == weights


# --------------------------------------------------------------------------- the model is untouched
def _global_hook_counts() -> dict[str, int]:
    mod = torch.nn.modules.module
    return {name: len(getattr(mod, name)) for name in dir(mod)
            if name.startswith("_global_") and isinstance(getattr(mod, name), dict)}


def _snapshot(net: nn.Module) -> dict:
    return {
        "state": {k: (v.clone() if not v.is_meta else None, v.device, v.dtype, v.shape, id(v))
                  for k, v in net.state_dict(keep_vars=True).items()},
        "params": [(id(p), p.requires_grad, p.device) for p in net.parameters()],
        "training": [(name, m.training) for name, m in net.named_modules()],
        "hooks": [(name, len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks),
                   len(m._forward_hooks_always_called)) for name, m in net.named_modules()],
        "global": _global_hook_counts(),
        "grad": [p.grad for p in net.parameters()],
    }


def _assert_same(net: nn.Module, snap: dict) -> None:
    now = _snapshot(net)
    assert now["params"] == snap["params"]
    assert now["training"] == snap["training"]
    assert now["hooks"] == snap["hooks"]
    assert now["global"] == snap["global"]
    assert all(g is None for g in now["grad"])
    assert now["state"].keys() == snap["state"].keys()
    for k, (value, device, dtype, shape, ident) in snap["state"].items():
        v2, d2, t2, s2, i2 = now["state"][k]
        assert (device, dtype, shape, ident) == (d2, t2, s2, i2), k
        if value is not None:
            assert torch.equal(value, v2), k  # bit-identical values


class Raises(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(10, 2)  # wrong in_features on purpose

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).flatten(1))


def test_model_left_bit_identical():
    torchvision = pytest.importorskip("torchvision")
    net = torchvision.models.resnet18()
    # a mixed pattern of training flags must survive
    net.train()
    net.layer2.eval()
    net.layer3[0].bn1.train()
    snap = _snapshot(net)
    fast = torch.backends.mha.get_fastpath_enabled()
    layerscope.analyze(net, input_size=64)
    _assert_same(net, snap)
    assert torch.backends.mha.get_fastpath_enabled() == fast


def test_model_left_bit_identical_when_forward_raises():
    net = Raises()
    net.bn.eval()
    snap = _snapshot(net)
    report = layerscope.analyze(net, input_size=(3, 8, 8))
    assert not report.ok
    _assert_same(net, snap)
    with pytest.raises(layerscope.TraceError):
        layerscope.analyze(net, input_size=(3, 8, 8), strict=True)
    _assert_same(net, snap)


def test_model_left_bit_identical_when_forward_raises_a_python_error():
    class PyError(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            self.fc(x)
            raise KeyError("boom")

    net = PyError()
    snap = _snapshot(net)
    report = layerscope.analyze(net, input_size=(4,))
    assert not report.ok
    _assert_same(net, snap)


def test_user_hooks_are_kept():
    net = nn.Sequential(nn.Linear(4, 4))
    handle = net[0].register_forward_hook(lambda m, i, o: None)
    snap = _snapshot(net)
    layerscope.analyze(net, input_size=(4,))
    _assert_same(net, snap)
    handle.remove()


def test_meta_cpu_and_preset_flags_give_identical_reports():
    torchvision = pytest.importorskip("torchvision")
    cpu = torchvision.models.resnet18()
    with torch.device("meta"):
        meta = torchvision.models.resnet18()
    expected = _same(layerscope.analyze(cpu, input_size=64))
    assert _same(layerscope.analyze(meta, input_size=64)) == expected
    assert _same(layerscope.analyze(cpu.eval(), input_size=64)) == expected
    assert _same(layerscope.analyze(meta.train(), input_size=64)) == expected


# ---------------------------------------------------------------------------------------- inputs
class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(5, 3)

    def forward(self, pair, extra):
        x, y = pair
        return self.a(x) + self.b(y) + self.a(extra["z"])


class TokenModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 16)
        self.fc = nn.Linear(16, 2)

    def forward(self, input_ids, attention_mask=None):
        h = self.emb(input_ids)
        if attention_mask is not None:
            h = h * attention_mask.unsqueeze(-1)
        return self.fc(h)


def test_real_and_meta_inputs_agree():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    real = layerscope.analyze(net, inputs=torch.randn(2, 3, 8, 8))
    meta = layerscope.analyze(net, inputs=torch.empty(2, 3, 8, 8, device="meta"))
    sized = layerscope.analyze(net, input_size=(2, 3, 8, 8))
    assert _same(real) == _same(meta) == _same(sized)
    assert real.inputs[0].shape == (2, 3, 8, 8)


def test_nested_tuple_and_dict_inputs():
    net = TwoInputs()
    report = layerscope.analyze(net, inputs=((torch.randn(2, 4), torch.randn(2, 5)), {"z": torch.randn(2, 4)}))
    assert report.ok and report.complete
    assert [t.shape for t in report.inputs] == [(2, 4), (2, 5), (2, 4)]
    # a: 2*3*4 twice (called twice), b: 2*3*5
    assert report.total_macs == 2 * (2 * 3 * 4) + 2 * 3 * 5


def test_kwargs_inputs_embedding():
    net = TokenModel()
    ids = torch.randint(0, 100, (2, 7))
    report = layerscope.analyze(net, kwargs={"input_ids": ids, "attention_mask": torch.ones(2, 7)})
    assert report.ok and report.complete
    names = [n.name for n in report.layer_graph if n.kind == "input"]
    assert names == ["input_ids", "attention_mask"]
    emb = next(n for n in report.nodes if n.type == "Embedding")
    assert emb.outputs[0].shape == (2, 7, 16)
    assert report.total_macs == 2 * 7 * 16 * 2  # fc only: an embedding lookup is not a MAC
    assert report.total_params == 100 * 16 + 16 * 2 + 2


def test_batch_size_and_dtype_options():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1))
    r = layerscope.analyze(net, input_size=(3, 8, 8), batch_size=4)
    assert r.inputs[0].shape == (4, 3, 8, 8)
    assert layerscope.analyze(net, input_size=8, batch_size=4).inputs[0].shape == (4, 3, 8, 8)
    # a 4-d shape has its batch: batch_size must agree with it (M3: a contradiction is refused, see
    # tests/test_cli_hardening.py)
    assert layerscope.analyze(net, input_size=(4, 3, 8, 8), batch_size=4).inputs[0].shape == (4, 3, 8, 8)
    half = layerscope.analyze(net.half(), input_size=(3, 8, 8), batch_size=4, dtype=torch.float16)
    assert half.inputs[0].dtype == "float16"
    assert half.activation_bytes * 2 == r.activation_bytes
    assert half.total_macs == r.total_macs == 4 * 4 * 8 * 8 * 27


def test_list_of_shapes_for_several_inputs():
    net = TwoInputs()

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = net

        def forward(self, x, y):
            return self.inner((x, y), {"z": x})

    report = layerscope.analyze(Wrap(), input_size=[(1, 4), (1, 5)])  # 2-d shapes are used as written
    assert [t.shape for t in report.inputs] == [(1, 4), (1, 5)]


@pytest.mark.parametrize("kwargs, code", [
    ({"input_size": "224"}, "LS911"),
    ({"input_size": (3, "a", 4)}, "LS911"),
    ({"input_size": (3, 0, 4)}, "LS912"),
    ({"input_size": (3, -1, 4)}, "LS912"),
    ({}, "LS913"),
    ({"input_size": 8, "inputs": torch.zeros(1, 3, 8, 8)}, "LS914"),
    ({"input_size": 8, "dtype": "float16"}, "LS915"),
    ({"inputs": 5}, "LS916"),
    ({"input_size": 8, "mode": "training"}, "LS918"),
])
def test_input_spec_errors_have_codes(kwargs, code):
    net = nn.Conv2d(3, 4, 3)
    with pytest.raises(InputSpecError) as info:
        layerscope.analyze(net, **kwargs)
    assert info.value.code == code
    assert info.value.hint


def test_non_module_is_rejected_with_a_code():
    with pytest.raises(InputSpecError) as info:
        layerscope.analyze(lambda x: x, input_size=8)
    assert info.value.code == "LS917"


# ------------------------------------------------------------------------------ output-size geometry
def _axis_args(layer: nn.Module, axis: int) -> dict:
    """layerscope.output_size arguments for one axis of a torch layer."""
    def at(v):
        return v[axis] if isinstance(v, (tuple, list)) else v

    kernel = at(layer.kernel_size)
    if isinstance(layer, nn.modules.conv._ConvNd):
        padding = layer.padding if isinstance(layer.padding, str) else at(layer.padding)
        return dict(kernel=kernel, stride=at(layer.stride), padding=padding, dilation=at(layer.dilation),
                    transposed=layer.transposed, output_padding=at(layer.output_padding))
    stride = at(layer.stride) if layer.stride is not None else kernel
    return dict(kernel=kernel, stride=stride, padding=at(layer.padding), dilation=at(getattr(layer, "dilation", 1)),
                ceil_mode=layer.ceil_mode)


GEOMETRY_CASES = [
    # (id, layer, input shape)
    ("conv1d", nn.Conv1d(2, 3, 3, stride=2, padding=1), (1, 2, 17)),
    ("conv2d_7x7_s2", nn.Conv2d(3, 4, 7, stride=2, padding=3), (1, 3, 224, 224)),
    ("conv2d_dilation", nn.Conv2d(2, 2, 3, padding=2, dilation=2), (1, 2, 15, 15)),
    ("conv2d_dilation_stride", nn.Conv2d(2, 2, 5, stride=3, padding=1, dilation=3), (1, 2, 31, 30)),
    ("conv2d_groups", nn.Conv2d(4, 8, 3, stride=2, groups=4), (1, 4, 20, 21)),
    ("conv3d_asym", nn.Conv3d(2, 2, (3, 5, 1), stride=(1, 2, 1), padding=(1, 2, 0)), (1, 2, 8, 20, 9)),
    ("conv2d_asym", nn.Conv2d(2, 2, (1, 7), stride=(2, 1), padding=(0, 3)), (1, 2, 13, 13)),
    ("conv2d_same_even", nn.Conv2d(2, 2, 4, padding="same"), (1, 2, 11, 10)),
    ("conv2d_same_dilated", nn.Conv2d(2, 2, 3, padding="same", dilation=2), (1, 2, 9, 9)),
    ("conv1d_valid", nn.Conv1d(2, 2, 4, padding="valid"), (1, 2, 10)),
    ("maxpool_floor", nn.MaxPool2d(3, 2), (1, 1, 112, 112)),
    ("maxpool_ceil", nn.MaxPool2d(3, 2, ceil_mode=True), (1, 1, 112, 112)),
    # ceil_mode: ceil((5 + 2 - 2)/2) + 1 = 4, but the last window would start at 6 >= 5 + 1: PyTorch gives 3
    ("maxpool_ceil_last_window_inside", nn.MaxPool2d(2, 2, padding=1, ceil_mode=True), (1, 1, 5, 5)),
    ("avgpool_ceil_pad", nn.AvgPool2d(3, 2, padding=1, ceil_mode=True), (1, 1, 10, 11)),
    ("maxpool1d_dilation", nn.MaxPool1d(3, 2, padding=1, dilation=2), (1, 1, 20)),
    ("maxpool3d_ceil", nn.MaxPool3d(2, 2, ceil_mode=True), (1, 1, 5, 6, 7)),
    ("convT2d_output_padding", nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1, output_padding=1), (1, 2, 7, 7)),
    ("convT1d", nn.ConvTranspose1d(2, 2, 4, stride=2, padding=1), (1, 2, 9)),
    ("convT1d_dilation", nn.ConvTranspose1d(2, 2, 3, stride=3, padding=2, dilation=2, output_padding=1), (1, 2, 6)),
    ("convT3d_asym", nn.ConvTranspose3d(2, 2, (2, 3, 4), stride=(2, 1, 3), padding=(0, 1, 1),
                                         output_padding=(1, 0, 2)), (1, 2, 3, 4, 5)),
]


@pytest.mark.parametrize("layer, shape", [c[1:] for c in GEOMETRY_CASES], ids=[c[0] for c in GEOMETRY_CASES])
def test_output_size_matches_pytorch_meta_kernels(layer, shape):
    expected = layer.to("meta")(torch.empty(shape, device="meta")).shape  # PyTorch's own answer
    n = len(shape) - 2
    for axis in range(n):
        got, formula = explain_output_size(shape[2 + axis], **_axis_args(layer, axis))
        assert got == expected[2 + axis], (axis, formula)
        assert formula.endswith(f"= {got}")
        assert output_size(shape[2 + axis], **_axis_args(layer, axis)) == got
    # the traced report agrees, and its own formula check raises no LS111
    # inputs=, not input_size=: a 3-tuple input_size means (C, H, W) without the batch
    report = layerscope.analyze(layer, inputs=torch.empty(shape, device="meta"))
    node = report.nodes[0]
    assert node.outputs[0].shape == tuple(expected)
    assert tuple(w.size_out for w in node.windows) == tuple(expected[2:])
    assert "LS111" not in {d.code for d in report.diagnostics}
    assert report.table.loc[0, "formula"]


def test_classic_exercise_32_to_4():
    # conv3x3 p1, pool2, conv3x3 p1, pool2, conv3x3 p1, pool2
    assert trace_sizes(32, [(3, 1, 1), (2, 2, 0), (3, 1, 1), (2, 2, 0), (3, 1, 1), (2, 2, 0)]) == \
        [32, 32, 16, 16, 8, 8, 4]
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1),
                        nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1), nn.MaxPool2d(2))
    report = layerscope.analyze(net, input_size=32)
    assert [n.outputs[0].shape[-1] for n in report.nodes] == [32, 16, 16, 8, 8, 4]


def test_formula_column_for_conv():
    net = nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, padding=3))
    report = layerscope.analyze(net, input_size=224)
    # (224 + 2*3 - 1*(7-1) - 1)//2 + 1 = 112, written out as the issue specifies
    assert report.table.loc[0, "formula"] == "(224 + 2*3 - 1*(7-1) - 1)//2 + 1 = 112"
    assert report.table.loc[0, "output_shape"] == (1, 64, 112, 112)


def test_floor_drop_flagged_for_225_through_stride_2_pool():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2, 2))
    report = layerscope.analyze(net, input_size=225)
    found = [d for d in report.diagnostics if d.code == "LS112"]
    assert len(found) == 1
    # (225 - 2) % 2 = 1 px lost on each axis
    assert list(found[0].data["dropped"]) == [(225 - 2) % 2] * 2
    assert found[0].module == "1" and "1 px" in found[0].message
    # 224 loses nothing: (224 - 2) % 2 = 0
    assert not [d for d in layerscope.analyze(net, input_size=224).diagnostics if d.code == "LS112"]


# --------------------------------------------------------------------------------- report plumbing
def test_report_round_trip():
    report = layerscope.analyze(FunctionalNet(), input_size=(3, 16, 16))
    d = report.to_dict()
    text = json.dumps(d)  # JSON-serializable
    again = Report.from_dict(json.loads(text))
    assert again.to_dict() == d
    assert (again.total_params, again.total_macs, again.total_flops, again.status) == \
        (report.total_params, report.total_macs, report.total_flops, report.status)
    assert again.rows() == report.rows()


def test_table_columns():
    report = layerscope.analyze(FunctionalNet(), input_size=(3, 16, 16))
    table = report.table
    required = {"name", "type", "input_shape", "output_shape", "params", "macs", "flops", "activation_bytes",
                "formula"}
    assert required <= set(table.columns)
    assert len(table) == len(report.nodes)
    assert table["params"].sum() == report.total_params == sum(p.numel() for p in FunctionalNet().parameters())
    assert table["macs"].sum() == report.total_macs


# ------------------------------------------------------------------------------- unknown is not zero
@torch.library.custom_op("layerscope_test::mystery", mutates_args=())
def _mystery(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@_mystery.register_fake
def _(x):
    return torch.empty_like(x)


def test_op_without_a_rule_makes_totals_partial():
    class Mystery(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return torch.ops.layerscope_test.mystery(self.conv(x))

    report = layerscope.analyze(Mystery(), input_size=(3, 10, 10))
    assert report.ok  # the forward ran; only the count is incomplete
    assert not report.complete and report.status == "partial"
    assert report.unknown_ops == {"mystery": 1}
    ls201 = [d for d in report.diagnostics if d.code == "LS201"]
    assert len(ls201) == 1 and "mystery" in ls201[0].message
    # total excludes the unknown op: the conv alone, 4*8*8 outputs * 3*3*3
    assert report.total_macs == 4 * 8 * 8 * 27
