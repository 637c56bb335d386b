"""Data-dependent sizes at their upper bound; index-only and sampling ops; padding before strided windows.

Oracle for the upper bound: PyTorch run for real on CPU on an input where nothing is filtered out (every mask
element True, every value distinct, no box overlapping another): the shapes must equal the traced ones.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import layerscope


def _codes(report: layerscope.Report) -> list[str]:
    return [d.code for d in report.diagnostics]


class _Op(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        return self.fn(self, x)


CASES = {
    "bool_mask_getitem": lambda m, x: m.lin(x[x.sum(1) > 0]),
    "bool_mask_2d": lambda m, x: x[x > 0],
    "nonzero": lambda m, x: torch.nonzero(x > 0),
    "nonzero_tuple": lambda m, x: torch.nonzero(x > 0, as_tuple=True)[1],
    "where_one_arg": lambda m, x: x[torch.where(x[:, 0] > 0)[0]],
    "argwhere": lambda m, x: torch.argwhere(x),
    "masked_select": lambda m, x: torch.masked_select(x, x > 0),
    "unique": lambda m, x: torch.unique(x, return_inverse=True, return_counts=True)[2],
    "unique_dim": lambda m, x: torch.unique(x, dim=0),
    "nms": lambda m, x: torchvision.ops.nms(torch.cat([x[:, :2], x[:, :2] + 1], 1), x[:, 0], 0.5),
    "batched_nms": lambda m, x: torchvision.ops.batched_nms(torch.cat([x[:, :2], x[:, :2] + 1], 1), x[:, 0],
                                                           (x[:, 1] > 0).long(), 0.5),
}


@pytest.mark.parametrize("case", list(CASES))
def test_data_dependent_op_is_traced_at_the_upper_bound_of_a_real_run(case: str) -> None:
    model = _Op(CASES[case]).eval()
    # every element positive and distinct; boxes (4i+1, 4i+2)-(4i+2, 4i+3) on a diagonal: no two overlap
    real_x = torch.arange(8 * 4, dtype=torch.float32).reshape(8, 4) + 1
    with torch.no_grad():
        real = model(real_x)
    report = layerscope.analyze(model, inputs=(torch.empty(8, 4, device="meta"),))
    assert report.ok, [str(d) for d in report.errors]
    assert report.status == "upper-bound"
    assert report.outputs[0].shape == tuple(real.shape)
    (d, *_) = [d for d in report.diagnostics if d.code == "LS130"]
    assert d.severity == "info" and d.source and d.source.endswith(".py:" + d.source.rsplit(":", 1)[1])


def test_F4_boolean_mask_indexing_takes_the_upper_bound_with_an_info_code() -> None:
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.l = nn.Linear(16, 4)

        def forward(self, x):
            return self.l(x[x.sum(1) > 0])

    report = layerscope.analyze(Net(), inputs=(torch.empty(8, 16),))
    assert report.ok and "LS100" not in _codes(report) and "LS108" not in _codes(report)
    (d,) = [d for d in report.diagnostics if d.code == "LS130"]
    assert d.severity == "info" and d.data["op"] == "getitem" and d.data["assumed"] == [[8, 16]]
    assert report.status == "upper-bound"
    assert report.total_macs == 8 * 16 * 4  # every one of the 8 rows through the Linear


def test_F4_cpu_in_forward_is_not_a_data_dependent_stop() -> None:
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.l = nn.Linear(16, 4)

        def forward(self, x):
            return self.l(x.cpu()).to("cpu", torch.float64)

    report = layerscope.analyze(Net(), inputs=(torch.empty(2, 16),))
    assert report.ok and "LS108" not in _codes(report), [str(d) for d in report.errors]
    assert report.status == "complete"
    assert report.outputs[0].dtype == "float64" and report.outputs[0].shape == (2, 4)


def test_value_of_a_model_constant_is_read_but_a_data_value_still_stops() -> None:
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.l = nn.Linear(4, 4)
            self.register_buffer("scale", torch.tensor([0.5]))

        def forward(self, x):
            return self.l(x) * float(self.scale)

    report = layerscope.analyze(Scaled(), input_size=(2, 4))
    assert report.ok and report.status == "complete"

    class ReadsData(nn.Module):
        def __init__(self):
            super().__init__()
            self.l = nn.Linear(4, 4)

        def forward(self, x):
            return self.l(x) * x.sum().item()

    stopped = layerscope.analyze(ReadsData(), input_size=(2, 4))
    (d,) = [d for d in stopped.diagnostics if d.code == "LS108"]
    assert "item()" in d.message


def test_meshgrid_is_known_and_free() -> None:
    class Grid(nn.Module):
        def forward(self, x):
            ys, xs = torch.meshgrid(x[0, 0, :, 0], x[0, 0, 0, :], indexing="ij")
            return x + ys + xs

    report = layerscope.analyze(Grid(), input_size=(1, 1, 5, 6))
    assert report.status == "complete"
    (op,) = [o for n in report.nodes for o in n.ops if o.op == "meshgrid"]
    assert op.known and op.macs == 0 and op.flops == 0


def test_grid_sample_is_counted_and_its_receptive_field_is_unknown() -> None:
    class Sampler(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.offsets = nn.Conv2d(3, 2, 3, padding=1)

        def forward(self, x):
            grid = self.offsets(x).permute(0, 2, 3, 1)  # the grid is data
            return F.grid_sample(self.conv(x), grid, mode="bilinear", align_corners=False)

    report = layerscope.analyze(Sampler(), input_size=(1, 3, 8, 8))
    assert report.status == "complete"
    (gs,) = [o for n in report.nodes for o in n.ops if o.op == "grid_sample"]
    assert gs.flops == 1 * 4 * 8 * 8 * 2 * 4  # out elements x 4 neighbours x a multiply-add
    assert gs.macs == 0
    assert report.receptive_field.size == (None, None)


def test_raft_small_is_complete() -> None:
    with torch.device("meta"):
        model = torchvision.models.optical_flow.raft_small(weights=None).eval()
    report = layerscope.analyze(model, input_size=[(1, 3, 128, 128), (1, 3, 128, 128)], kwargs={"num_flow_updates": 2})
    assert report.ok and report.status == "complete", report.unknown_ops


class _BlurPool(nn.Module):  # timm's BlurPool2d: reflect pad 1, then a depthwise 3x3 stride 2
    def __init__(self, c: int):
        super().__init__()
        self.register_buffer("filt", torch.ones(c, 1, 3, 3) / 9)

    def forward(self, x):
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt, stride=2, groups=x.shape[1])


def test_padding_before_a_strided_window_is_not_a_dropped_pixel() -> None:
    # (112 + 1 + 1 - 3) % 2 = 1: the one pixel floor division leaves out is the right padding, not the input
    blur = layerscope.analyze(nn.Sequential(nn.Conv2d(3, 4, 1), _BlurPool(4)), input_size=(1, 3, 112, 112))
    assert "LS112" not in _codes(blur)
    bit = layerscope.analyze(nn.Sequential(nn.Conv2d(3, 4, 7, 2, 3), nn.ConstantPad2d(1, 0.0), nn.MaxPool2d(3, 2)),
                             input_size=(1, 3, 228, 228))  # 114 + 2 - 3 = 113, odd: the padding pixel
    assert "LS112" not in _codes(bit)
    # without the pad the last input pixel is really dropped: (112 - 3) % 2 = 1
    real = layerscope.analyze(nn.Sequential(nn.Conv2d(3, 4, 3, stride=2)), input_size=(1, 3, 112, 112))
    assert "LS112" in _codes(real)


def test_F5_fpn_last_level_max_pool_is_not_a_pooling_lint() -> None:
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    class Top(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.extra_blocks = LastLevelMaxPool()  # F.max_pool2d(x, 1, 2, 0): a strided subsample by design

        def forward(self, x):
            y = self.conv(x)
            return self.extra_blocks([y], [y], ["0"])[0]

    report = layerscope.analyze(Top(), input_size=(1, 3, 32, 32))
    assert "LS306" not in _codes(report)
    # a window really smaller than its stride still warns
    assert "LS306" in _codes(layerscope.analyze(nn.Sequential(nn.MaxPool2d(2, 3)), input_size=(1, 3, 32, 32)))


class _ClassicMoE(nn.Module):
    """The Hugging Face MoE block as Mixtral/Qwen2-MoE wrote it up to transformers 4.x: top-k routing, a
    one-hot expert mask, and index dispatch (``torch.where`` + ``index_add_``) per expert."""

    def __init__(self, hidden: int = 16, inner: int = 24, experts: int = 4, k: int = 2):
        super().__init__()
        self.k, self.n = k, experts
        self.gate = nn.Linear(hidden, experts, bias=False)
        self.experts = nn.ModuleList(nn.Sequential(nn.Linear(hidden, inner), nn.SiLU(), nn.Linear(inner, hidden))
                                     for _ in range(experts))

    def forward(self, x):
        b, s, h = x.shape
        x = x.view(-1, h)
        weights = F.softmax(self.gate(x), dim=1, dtype=torch.float)
        weights, selected = torch.topk(weights, self.k, dim=-1)
        out = torch.zeros_like(x)
        mask = F.one_hot(selected, num_classes=self.n).permute(2, 1, 0)
        for e in range(self.n):
            idx, top_x = torch.where(mask[e])
            y = self.experts[e](x[None, top_x].reshape(-1, h)) * weights[top_x, idx, None]
            out.index_add_(0, top_x, y)
        return out.view(b, s, h)


def _fcm_macs(model: nn.Module, x: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fcm:
        model(x)
    return fcm.get_total_flops() // 2


def test_moe_routing_counts_every_token_through_its_k_experts() -> None:
    torch.manual_seed(0)
    moe = _ClassicMoE().eval()
    x = torch.randn(1, 12, 16)
    report = layerscope.analyze(moe, inputs=(x,))
    assert report.ok and report.status == "upper-bound"
    # gate: 12 tokens x 16 x 4 experts; each of the 12 tokens through 2 experts of 16*24 + 24*16 MACs
    assert report.total_macs == 12 * 16 * 4 + 12 * 2 * (16 * 24 + 24 * 16) == _fcm_macs(moe, x)
    routed = [d for d in report.diagnostics if d.code == "LS130" and "MoE routing" in d.message]
    assert routed and sum(routed[0].data["bounds"]) == 12 * 2  # the token slots, split over the experts


def test_moe_block_of_transformers_is_counted_at_every_token_through_its_k_experts() -> None:
    transformers = pytest.importorskip("transformers")
    from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock

    cfg = transformers.MixtralConfig(hidden_size=32, intermediate_size=48, num_local_experts=8, num_experts_per_tok=2)
    torch.manual_seed(0)
    block = MixtralSparseMoeBlock(cfg).eval()
    for p in block.parameters():
        torch.nn.init.normal_(p, std=0.02)
    x = torch.randn(1, 10, 32)
    report = layerscope.analyze(block, inputs=(x,))
    assert report.ok and report.status == "upper-bound", [str(d) for d in report.errors]
    # router 10 x 32 x 8; every token through 2 experts: gate_up 32 -> 2*48, down 48 -> 32
    assert report.total_macs == 10 * 32 * 8 + 10 * 2 * (32 * 96 + 48 * 32) == _fcm_macs(block, x)


def test_a_stopped_trace_says_so_in_the_totals() -> None:
    class Stops(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)
            self.b = nn.Linear(4, 4)

        def forward(self, x):
            y = self.a(x)
            if y.sum() > 0:  # a value read: LS108, the trace stops before self.b
                return self.b(y)
            return y

    report = layerscope.analyze(Stops(), inputs=(torch.empty(2, 4),))
    assert "LS108" in _codes(report)
    assert "LS202" not in _codes(report)  # self.b was not reached, not "unused"
    assert "the trace stopped" in report.to_text()
