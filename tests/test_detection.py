"""Detectors traced at their upper bound, checked against real CPU runs of the same models.

Oracle: each torchvision detector, built with ``weights=None, weights_backbone=None`` and its thresholds opened
(score thresholds 0, NMS IoU thresholds 1.0: nothing is filtered out), is run for real on a small random image
under ``FlopCounterMode``. That run reaches every cap (topk, ``post_nms_top_n``, ``detections_per_img``), so its
conv/matmul MACs (FCM FLOPs / 2) must equal layerscope's upper bound. The caps and image size are small so each
real run takes about a second.
"""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import pytest
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

import layerscope
from layerscope.cli import main

SIZE = 128  # the transform resizes every image to SIZE x SIZE (min_size = max_size)
DETS = 8    # detections per image
_RCNN = dict(min_size=SIZE, max_size=SIZE, rpn_pre_nms_top_n_test=60, rpn_post_nms_top_n_test=30,
             rpn_score_thresh=0.0, rpn_nms_thresh=1.0, box_score_thresh=0.0, box_nms_thresh=1.0,
             box_detections_per_img=DETS)
_ONE_STAGE = dict(min_size=SIZE, max_size=SIZE, score_thresh=0.0, nms_thresh=1.0, detections_per_img=DETS,
                  topk_candidates=20)
_SSD = dict(score_thresh=0.0, nms_thresh=1.0, detections_per_img=DETS, topk_candidates=20)

DETECTORS = [
    ("fasterrcnn_mobilenet_v3_large_320_fpn", _RCNN, False),
    ("fasterrcnn_mobilenet_v3_large_fpn", _RCNN, False),
    ("fasterrcnn_resnet50_fpn", _RCNN, False),
    ("fasterrcnn_resnet50_fpn_v2", _RCNN, True),
    ("maskrcnn_resnet50_fpn", _RCNN, False),
    ("maskrcnn_resnet50_fpn_v2", _RCNN, True),
    ("keypointrcnn_resnet50_fpn", {**_RCNN, "box_detections_per_img": 3}, True),
    ("retinanet_resnet50_fpn", _ONE_STAGE, False),
    ("retinanet_resnet50_fpn_v2", _ONE_STAGE, True),
    ("fcos_resnet50_fpn", _ONE_STAGE, False),
    ("ssd300_vgg16", _SSD, True),
    ("ssdlite320_mobilenet_v3_large", _SSD, False),
]


def _build(name: str, opts: dict) -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.get_model(name, weights=None, weights_backbone=None, **opts).eval()


def _fcm_macs(model: torch.nn.Module, image: torch.Tensor) -> tuple[int, list]:
    with torch.no_grad(), FlopCounterMode(display=False) as fcm:
        out = model([image])
    return fcm.get_total_flops() // 2, out


@pytest.mark.parametrize(
    "name,opts", [pytest.param(n, o, id=n, marks=[pytest.mark.slow] if slow else []) for n, o, slow in DETECTORS])
def test_detector_upper_bound_equals_a_real_run_that_reaches_the_caps(name: str, opts: dict) -> None:
    model = _build(name, opts)
    image = torch.rand(3, 96, 112, generator=torch.Generator().manual_seed(1))
    real, out = _fcm_macs(model, image)
    report = layerscope.analyze(model, inputs=([image],))
    assert report.ok, [str(d) for d in report.errors]
    assert report.status == "upper-bound"
    # the real run kept as many detections as the cap: nothing was filtered out, so it is the worst case
    assert out[0]["boxes"].shape[0] == opts.get("box_detections_per_img", opts.get("detections_per_img"))
    assert report.outputs[0].shape == tuple(out[0]["boxes"].shape)
    assert abs(report.total_macs - real) <= 0.01 * real, (report.total_macs, real)
    assert any(d.code == "LS130" for d in report.diagnostics)
    # the user's model is untouched: real weights, still on CPU
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_detector_takes_its_natural_input_from_input_size() -> None:
    """``input_size=(3, H, W)`` means one (3, H, W) image in a list, as the detector's forward expects."""
    with torch.device("meta"):
        model = torchvision.models.get_model("fasterrcnn_mobilenet_v3_large_320_fpn", weights=None,
                                             weights_backbone=None).eval()
    listed = layerscope.analyze(model, inputs=([torch.empty(3, 320, 320)],))
    sized = layerscope.analyze(model, input_size=(3, 320, 320))
    assert sized.ok and sized.status == "upper-bound"
    assert sized.total_macs == listed.total_macs
    assert [t.shape for t in sized.inputs] == [(3, 320, 320)]
    two = layerscope.analyze(model, input_size=(2, 3, 320, 320))
    assert [t.shape for t in two.inputs] == [(3, 320, 320)] * 2
    # the image-independent part (everything but the per-image heads) is not doubled, but the images are
    assert two.total_macs > sized.total_macs


def test_detector_report_names_assumptions_and_stages() -> None:
    with torch.device("meta"):
        model = torchvision.models.get_model("fasterrcnn_mobilenet_v3_large_320_fpn", weights=None,
                                             weights_backbone=None).eval()
    report = layerscope.analyze(model, input_size=(3, 320, 320))
    ls130 = [d for d in report.diagnostics if d.code == "LS130"]
    assert all(d.severity == "info" for d in ls130)
    nms = [d for d in ls130 if d.data["op"] == "nms"]
    assert {d.module for d in nms} == {"rpn", "roi_heads"}
    # RPN: the top pre_nms_top_n=150 of each level (strides 16, 32, 64; 5 sizes x 3 ratios = 15 anchors per
    # position), every one kept by NMS before the post_nms_top_n=150 cap
    rpn = next(d for d in nms if d.module == "rpn")
    assert rpn.source and "boxes.py" in rpn.source
    assert rpn.data["bounds"][0] == sum(min(150, 15 * (320 // s) ** 2) for s in (16, 32, 64))  # 3 * 150
    (stages,) = [d for d in report.diagnostics if d.code == "LS131"]
    labels = [row[0] for row in stages.data["stages"]]
    assert labels[:4] == ["backbone", "FPN", "RPN", "ROI box head"]
    assert sum(row[1] for row in stages.data["stages"]) == report.total_macs
    assert stages.data["counts"] == {"proposals per image": 150, "detections per image": 100}


def test_cli_analyzes_a_detector_with_an_image_size() -> None:
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["analyze", "torchvision:ssdlite320_mobilenet_v3_large", "-s", "3x320x320"])
    assert rc == 0
    text = buf.getvalue()
    assert "upper bound" in text and "LS130" in text and "LS131" in text


def test_detectors_are_recognized_by_type_not_name() -> None:
    from layerscope.tracing.detection import detector_kind

    with torch.device("meta"):
        model = torchvision.models.get_model("ssdlite320_mobilenet_v3_large", weights=None, weights_backbone=None)

    class Renamed(type(model)):  # a subclass with an unrelated name is still an SSD
        pass

    model.__class__ = Renamed
    assert detector_kind(model) == "ssd"

    class FasterRCNNLookalike(torch.nn.Module):  # a name alone is not a detector
        pass

    assert detector_kind(FasterRCNNLookalike()) is None
