"""Our example families, analyzed, against torchvision's published figures (``weights.meta``)."""

from __future__ import annotations

import pytest
import torch
import torchvision

import layerscope
from examples import downsampling, efficientnet, preact, resnet, vgg


def _published(name: str) -> tuple[int, float]:
    meta = torchvision.models.get_model_weights(name).DEFAULT.meta
    return meta["num_params"], meta["_ops"]  # params, GMACs (labelled GFLOPS there, rounded to 3 decimals)


@pytest.mark.parametrize(
    "build, tv_name",
    [(vgg.vgg16, "vgg16"), (resnet.resnet18, "resnet18"), (resnet.resnet50, "resnet50"),
     (efficientnet.efficientnet_b0, "efficientnet_b0")],
)
def test_examples_match_torchvision_published_figures(build, tv_name):
    with torch.device("meta"):
        model = build()
    report = layerscope.analyze(model, input_size=224)
    params, gmacs = _published(tv_name)
    assert report.total_params == params
    # the published figure is rounded to 3 decimals: within half a unit of the last digit, plus 0.1%
    assert abs(report.total_macs / 1e9 - gmacs) <= 0.0005 + 0.001 * gmacs
    assert report.complete and report.ok


def test_issue_headline_numbers():
    # the issue's figures: VGG-16 138.4M / 15.5 GMACs, ResNet-50 25.6M / 4.1, EfficientNet-B0 5.3M / 0.39
    expected = {vgg.vgg16: (138.4, 15.5), resnet.resnet50: (25.6, 4.1), efficientnet.efficientnet_b0: (5.3, 0.39)}
    for build, (mparams, gmacs) in expected.items():
        with torch.device("meta"):
            report = layerscope.analyze(build(), input_size=224)
        assert round(report.total_params / 1e6, 1) == mparams
        assert round(report.total_macs / 1e9, 2 if gmacs < 1 else 1) == gmacs


def test_functional_ops_of_the_families_are_nodes():
    report = layerscope.analyze(resnet.resnet18(), input_size=64)
    ops = [n for n in report.nodes if n.kind == "op"]
    # BasicBlock: out += shortcut(x) and a functional relu after it, in every one of the 8 blocks
    adds = [n for n in ops if n.type == "add"]
    assert len(adds) == 8
    assert all(len(report.layer_graph.predecessors(n.id)) == 2 for n in adds)
    assert adds[0].name == "layer1.0/add" and adds[0].ops[0].inplace
    assert sum(n.type == "relu" for n in ops) >= 8

    eff = layerscope.analyze(efficientnet.efficientnet_b0(), input_size=64)
    muls = [n for n in eff.nodes if n.kind == "op" and n.type == "mul"]
    # x * se(x): one gate per MBConv block (16 blocks in B0: 1+2+2+3+3+4+1)
    assert len(muls) == 16
    gate = muls[0]
    shapes = sorted(t.shape for t in gate.inputs)
    assert shapes[0][2:] == (1, 1) and shapes[1][2:] == (32, 32)  # (N,C,1,1) gate times (N,C,H,W)


def test_preact_and_downsampling_examples_trace_completely():
    for build in (preact.preact_se_net, downsampling.strided_conv_net, downsampling.conv_maxpool_net,
                  downsampling.conv_avgpool_net):
        report = layerscope.analyze(build(), input_size=224)
        assert report.complete and report.ok, build.__name__
        assert report.outputs[0].shape == (1, 10)
        assert report.total_params == sum(p.numel() for p in build().parameters())


def test_downsampling_comparison_costs():
    strided = layerscope.analyze(downsampling.strided_conv_net(), input_size=224)
    maxpool = layerscope.analyze(downsampling.conv_maxpool_net(), input_size=224)
    avgpool = layerscope.analyze(downsampling.conv_avgpool_net(), input_size=224)
    assert strided.total_params == maxpool.total_params == avgpool.total_params
    # each stride-1 conv sees 4x the positions of its strided twin: conv MACs are exactly 4x
    def conv_macs(r):
        return sum(n.macs for n in r.nodes if n.type == "Conv2d")
    assert conv_macs(maxpool) == 4 * conv_macs(strided) == conv_macs(avgpool)
    # first stage: 224x224 positions * 32 channels * 3*3*3 taps
    first = next(n for n in maxpool.nodes if n.type == "Conv2d")
    assert first.macs == 224 * 224 * 32 * 27
