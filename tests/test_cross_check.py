"""Cross-checks against independent counters, where their conventions agree with ours.

- ``torch.utils.flop_counter.FlopCounterMode`` counts 2 FLOPs per MAC for conv, mm/addmm/bmm/baddbmm and
  attention, and nothing else: its total / 2 must equal our MAC total exactly.
- fvcore's ``FlopCountAnalysis`` counts 1 "flop" per MAC for conv, linear, matmul, bmm and einsum, but also
  counts BatchNorm, upsampling and adaptive pooling (which are not MACs for us), and has no handle for
  ``scaled_dot_product_attention``. So the comparison is per leaf module, for conv and linear modules, plus
  a model-level total on a transformer written with ``nn.Linear``, ``@`` and ``einsum`` only.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import layerscope

torchvision = pytest.importorskip("torchvision")


def flop_counter_macs(model: nn.Module, *inputs: torch.Tensor) -> int:
    """MACs by PyTorch's own counter: FLOPs / 2 (works on meta tensors: it counts at the dispatcher)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return counter.get_total_flops() // 2


def fvcore_by_module(model: nn.Module, *inputs: torch.Tensor) -> dict[str, dict[str, int]]:
    fvcore_nn = pytest.importorskip("fvcore.nn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = fvcore_nn.FlopCountAnalysis(model, inputs)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        analysis.tracer_warnings("none")
        return {k: dict(v) for k, v in analysis.by_module_and_operator().items()}


# fvcore operator names that are MACs in both conventions
_MAC_OPS = ("conv", "linear", "addmm", "matmul", "bmm", "einsum", "mm")


def _compare_leaf_modules(model: nn.Module, report: layerscope.Report, fv: dict[str, dict[str, int]]) -> int:
    """Assert per-module MACs of every Conv/Linear leaf equal fvcore's; return how many were compared."""
    ours: dict[str, int] = {}
    for n in report.nodes:
        if n.kind == "module" and isinstance(model.get_submodule(n.name), (nn.modules.conv._ConvNd, nn.Linear)):
            ours[n.name] = ours.get(n.name, 0) + n.macs  # a module called twice: fvcore sums its calls
    assert ours
    for name, macs in ours.items():
        theirs = sum(fv.get(name, {}).get(op, 0) for op in _MAC_OPS)
        assert macs == theirs, (name, macs, theirs)
    return len(ours)


@pytest.mark.parametrize("name, size", [("resnet50", 96), ("mobilenet_v3_small", 96), ("densenet121", 64),
                                        ("shufflenet_v2_x1_0", 64)])
def test_conv_and_linear_modules_match_fvcore(name, size):
    model = torchvision.models.get_model(name, weights=None).eval()
    x = torch.randn(1, 3, size, size)
    report = layerscope.analyze(model, inputs=x)
    fv = fvcore_by_module(model, x)
    assert _compare_leaf_modules(model, report, fv) > 10


def test_vit_linear_modules_match_fvcore():
    # a small ViT (64 px, 16 px patches -> 16 tokens + class token): MLP linears, patch conv and head.
    # nn.MultiheadAttention is atomic for us; its matmuls are checked against FlopCounterMode below.
    model = torchvision.models.vit_b_16(image_size=64).eval()
    x = torch.randn(1, 3, 64, 64)
    report = layerscope.analyze(model, inputs=x)
    fv = fvcore_by_module(model, x)
    assert _compare_leaf_modules(model, report, fv) >= 2 * 12 + 2


class TinyGPT(nn.Module):
    """Attention written with nn.Linear and ``@``, which fvcore counts exactly like we do (fvcore's generic
    einsum count comes from numpy's ``einsum_path`` FLOP estimate, a different convention)."""

    def __init__(self, d: int = 32, heads: int = 4, layers: int = 2, vocab: int = 50):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.heads = heads
        self.qkv = nn.ModuleList(nn.Linear(d, 3 * d) for _ in range(layers))
        self.proj = nn.ModuleList(nn.Linear(d, d) for _ in range(layers))
        self.mlp = nn.ModuleList(nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
                                 for _ in range(layers))
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids):
        x = self.emb(ids)
        b, t, d = x.shape
        h = self.heads
        for qkv, proj, mlp in zip(self.qkv, self.proj, self.mlp):
            q, k, v = qkv(x).split(d, dim=-1)
            q, k, v = (z.reshape(b, t, h, d // h).transpose(1, 2) for z in (q, k, v))
            att = (q @ k.transpose(-2, -1)).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(b, t, d)
            x = x + proj(y)
            x = x + mlp(x)
        return self.head(x)


def test_transformer_total_matches_fvcore_and_flop_counter():
    model = TinyGPT().eval()
    ids = torch.randint(0, 50, (2, 9))
    report = layerscope.analyze(model, inputs=ids)
    assert report.complete
    fvcore_nn = pytest.importorskip("fvcore.nn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = fvcore_nn.FlopCountAnalysis(model, ids)
        analysis.unsupported_ops_warnings(False)
        by_op = analysis.by_operator()
    fv_macs = sum(by_op.get(op, 0) for op in _MAC_OPS)
    # analytic: per layer qkv 3*d*d + proj d*d + mlp 8*d*d per token, attention 2*t*d per token
    b, t, d, layers, vocab = 2, 9, 32, 2, 50
    analytic = layers * b * t * (12 * d * d + 2 * t * d) + b * t * d * vocab
    assert report.total_macs == fv_macs == analytic
    assert report.total_macs == flop_counter_macs(model, ids)


def test_einsum_matches_flop_counter_and_arithmetic():
    class Einsums(nn.Module):
        def forward(self, a, b, c):
            x = torch.einsum("bhqd,bhkd->bhqk", a, b)  # 2*3 batch * 5 q * 7 k * 4 d
            y = torch.einsum("...qk,...kd->...qd", x, b)  # 2*3 * 5 * 4 * 7
            return torch.einsum("ij,jk,kl->il", c, c, c)  # (6x6)(6x6): 6^3, then (6x6)(6x6): 6^3

    a, b, c = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 7, 4), torch.randn(6, 6)
    report = layerscope.analyze(Einsums(), inputs=(a, b, c))
    assert report.total_macs == 2 * 3 * 5 * 7 * 4 + 2 * 3 * 5 * 4 * 7 + 2 * 6 ** 3
    assert report.total_macs == flop_counter_macs(Einsums(), a, b, c)


@pytest.mark.parametrize("name, size", [("resnet50", 224), ("vit_b_16", 224), ("swin_t", 224),
                                        ("mobilenet_v3_large", 224), ("convnext_tiny", 224)])
def test_totals_match_flop_counter_mode(name, size):
    with torch.device("meta"):
        model = torchvision.models.get_model(name, weights=None).eval()
    x = torch.empty(1, 3, size, size, device="meta")
    report = layerscope.analyze(model, inputs=x)
    assert report.complete
    assert report.total_macs == flop_counter_macs(model, x)


def test_flop_counter_agrees_on_a_real_cpu_forward():
    # the meta forward above is a shortcut: a real forward gives PyTorch's counter the same total
    model = torchvision.models.resnet18().eval()
    x = torch.randn(1, 3, 64, 64)
    assert layerscope.analyze(model, inputs=x).total_macs == flop_counter_macs(model, x)


@pytest.mark.parametrize("name", ["resnet50", "efficientnet_b0", "vit_base_patch16_224", "convnext_tiny",
                                  "swin_tiny_patch4_window7_224", "mobilenetv3_large_100"])
def test_timm_params_and_macs(name):
    timm = pytest.importorskip("timm")
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False).eval()
    shape = tuple(model.pretrained_cfg["input_size"])
    report = layerscope.analyze(model, input_size=shape)
    assert report.complete and report.ok
    assert report.total_params == sum(p.numel() for p in model.parameters())
    assert report.total_macs == flop_counter_macs(model, torch.empty(1, *shape, device="meta"))
