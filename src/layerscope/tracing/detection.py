"""Object detectors (torchvision's GeneralizedRCNN, RetinaNet, FCOS, SSD): their natural input and their stages.

A detector's forward takes a *list* of ``(3, H, W)`` images, not a batch tensor; ``input_size=(3, 800, 800)``
(the CLI's ``-s 3x800x800``) means one such image. Detectors are recognised by type (the class's MRO), never by
name. Their stages (backbone, FPN, RPN, ROI heads, mask/keypoint heads...) are module prefixes, so the report
can say what each costs (LS131).
"""

from __future__ import annotations

import sys
from typing import Any

import torch

# (module path, class name) of torchvision's detector base classes -> kind
_BASES = {
    ("torchvision.models.detection.generalized_rcnn", "GeneralizedRCNN"): "rcnn",
    ("torchvision.models.detection.retinanet", "RetinaNet"): "retinanet",
    ("torchvision.models.detection.fcos", "FCOS"): "fcos",
    ("torchvision.models.detection.ssd", "SSD"): "ssd",
}


def detector_kind(model: Any) -> str | None:
    """``"rcnn" | "retinanet" | "fcos" | "ssd"`` when ``model`` is an instance of a torchvision detector class."""
    for (mod, cls_name), kind in _BASES.items():
        module = sys.modules.get(mod)
        cls = getattr(module, cls_name, None) if module is not None else None
        if isinstance(cls, type) and isinstance(model, cls):
            return kind
    return None


def detector_inputs(input_size: Any, dtype: torch.dtype | None = None) -> tuple[Any, ...] | None:
    """``([image, ...],)`` for ``(3, H, W)``, ``(N, 3, H, W)`` or an int ``s`` (one ``3 x s x s`` image), or None."""
    if isinstance(input_size, bool):
        return None
    if isinstance(input_size, int):
        shape: tuple[int, ...] = (3, input_size, input_size)
    elif isinstance(input_size, (tuple, list, torch.Size)) and all(
            isinstance(d, int) and not isinstance(d, bool) for d in input_size):
        shape = tuple(input_size)
    else:
        return None
    if len(shape) == 3:
        n, chw = 1, shape
    elif len(shape) == 4:
        n, chw = shape[0], shape[1:]
    else:
        return None
    if n < 1 or any(d < 1 for d in chw):
        return None
    return ([torch.empty(chw, dtype=dtype or torch.float32, device="meta") for _ in range(n)],)


def _has(model: Any, path: str) -> bool:
    m = model
    for part in path.split("."):
        m = getattr(m, "_modules", {}).get(part)
        if m is None:
            return False
    return True


def detector_stages(model: Any, kind: str) -> list[tuple[str, list[str]]]:
    """(stage label, module prefixes) in forward order, only the ones this model has."""
    if kind == "rcnn":
        cand = [("backbone", ["backbone.body"] if _has(model, "backbone.body") else ["backbone"]),
                ("FPN", ["backbone.fpn"]), ("RPN", ["rpn"]),
                ("ROI box head", ["roi_heads.box_roi_pool", "roi_heads.box_head", "roi_heads.box_predictor"]),
                ("mask head", ["roi_heads.mask_roi_pool", "roi_heads.mask_head", "roi_heads.mask_predictor"]),
                ("keypoint head", ["roi_heads.keypoint_roi_pool", "roi_heads.keypoint_head",
                                   "roi_heads.keypoint_predictor"])]
    elif kind in ("retinanet", "fcos"):
        cand = [("backbone", ["backbone.body"] if _has(model, "backbone.body") else ["backbone"]),
                ("FPN", ["backbone.fpn"]), ("classification head", ["head.classification_head"]),
                ("regression head", ["head.regression_head"]), ("anchors", ["anchor_generator"])]
    else:  # ssd
        cand = [("backbone", ["backbone"]), ("classification head", ["head.classification_head"]),
                ("regression head", ["head.regression_head"]), ("anchors", ["anchor_generator"])]
    out = []
    for label, prefixes in cand:
        got = [p for p in prefixes if _has(model, p)]
        if got:
            out.append((label, got))
    return out


def detector_options(model: Any, mode: str = "eval") -> dict[str, Any]:
    """What the analyzers need to report a detector's stages (``Context.options``), or ``{}``."""
    kind = detector_kind(model)
    if kind is None:
        return {}
    opts: dict[str, Any] = {"detector": kind, "stages": detector_stages(model, kind)}
    caps = {}
    for attr, label in (("detections_per_img", "detections per image"), ("topk_candidates", "candidates per level")):
        for owner in (model, getattr(model, "roi_heads", None)):
            v = getattr(owner, attr, None) if owner is not None else None
            if isinstance(v, int):
                caps[label] = v
    rpn = getattr(model, "rpn", None)
    if rpn is not None:
        for attr, label in (("_post_nms_top_n", "proposals per image"), ("_pre_nms_top_n", "proposals per level "
                                                                                          "before NMS")):
            v = getattr(rpn, attr, None)
            if isinstance(v, dict):
                v = v.get("training" if mode == "train" else "testing")
            if isinstance(v, int):
                caps[label] = v
    opts["caps"] = caps
    return opts
