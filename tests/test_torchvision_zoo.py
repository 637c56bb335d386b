"""Every model of ``torchvision.models.list_models()`` is analyzed complete or upper-bound with ``ok`` True.

Where each zoo is checked:
- classification, segmentation, video: ``test_torchvision_oracle.py`` (against ``weights.meta``);
- detection: ``test_detection.py`` (real CPU runs) and ``test_torchvision_oracle.py`` (``weights.meta``);
- quantization (``quantize=True`` and the float ``quantize=False`` twin): ``test_quantized.py``;
- optical flow (RAFT): here.
"""

from __future__ import annotations

import pytest
import torch
import torchvision

import layerscope

ZOOS = {
    "classification": torchvision.models,
    "segmentation": torchvision.models.segmentation,
    "video": torchvision.models.video,
    "detection": torchvision.models.detection,
    "quantization": torchvision.models.quantization,
    "optical_flow": torchvision.models.optical_flow,
}


def test_every_torchvision_model_belongs_to_a_checked_zoo() -> None:
    covered: set[str] = set()
    for module in ZOOS.values():
        covered |= set(torchvision.models.list_models(module=module))
    missing = set(torchvision.models.list_models()) - covered
    assert not missing, f"models no test checks: {sorted(missing)}"


@pytest.mark.slow
@pytest.mark.parametrize("name", torchvision.models.list_models(module=torchvision.models.optical_flow))
def test_optical_flow_models_are_complete(name: str) -> None:
    with torch.device("meta"):
        model = torchvision.models.get_model(name, weights=None).eval()
    report = layerscope.analyze(model, input_size=[(1, 3, 224, 224), (1, 3, 224, 224)])
    assert report.ok and report.status == "complete", report.unknown_ops
    # 12 flow updates (the default), each one correlation lookup of grid_sample per pyramid level (4)
    assert sum(o.op == "grid_sample" for n in report.nodes for o in n.ops) == 12 * 4
    assert report.receptive_field.size == (None, None)  # sampled at the flow's values: unknown, not guessed
