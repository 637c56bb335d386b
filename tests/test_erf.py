"""Effective receptive field (Luo et al. 2016): real CPU backprop on a copy of the model, checked against
closed-form gradients of linear nets and against the theoretical field."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import layerscope
from layerscope.errors import ConfigError, InputSpecError


def box_filter_stack(n: int, dims: int = 1) -> nn.Module:
    """n convs of width 3 with every weight 1/3 and no bias: a linear net whose input gradient is known."""
    conv = nn.Conv1d if dims == 1 else nn.Conv2d
    layers = []
    for _ in range(n):
        c = conv(1, 1, 3, padding=1, bias=False)
        with torch.no_grad():
            c.weight.fill_(1 / 3 ** dims)
        layers.append(c)
    return nn.Sequential(*layers)


def test_linear_stack_matches_closed_form():
    n, size = 6, 41
    erf = layerscope.effective_receptive_field(box_filter_stack(n), input_size=(1, 1, size), full_shape=True,
                                               samples=3,
                                               batch_size=2)
    # the gradient of the centre unit is the n-fold convolution of [1/3, 1/3, 1/3], centred on it
    kernel = np.array([1.0])
    for _ in range(n):
        kernel = np.convolve(kernel, np.ones(3) / 3)
    expected = np.zeros(size)
    c = size // 2
    expected[c - n:c + n + 1] = kernel
    expected /= expected.sum()
    assert erf.unit == (c,)
    np.testing.assert_allclose(erf.heatmap, expected, rtol=1e-6, atol=1e-12)
    assert erf.centroid[0] == pytest.approx(c)
    # radius holding 95%: grow |x - c| until the symmetric mass reaches 0.95
    mass = [expected[c - r:c + r + 1].sum() for r in range(n + 1)]
    assert erf.radius == pytest.approx(next(r for r, m in enumerate(mass) if m >= 0.95 - 1e-12), abs=1e-5)
    assert erf.radius_for(1.0) == pytest.approx(n, abs=1e-5)  # all the mass: the theoretical half-width, (2n+1 - 1)/2
    assert erf.samples == 3


def test_support_stays_inside_the_theoretical_field_and_model_untouched():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 4, 5, padding=2), nn.ReLU(), nn.Conv2d(4, 3, 3, dilation=2, padding=2))
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    erf = layerscope.effective_receptive_field(net, input_size=(2, 40, 40), samples=5, batch_size=2)
    assert net.training  # mode restored (it was never changed: the copy ran)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert erf.heatmap.shape == (40, 40) and erf.heatmap.sum() == pytest.approx(1.0)
    (y0, y1), (x0, x1) = erf.theoretical_region
    # 3 + 1*1 (pool) + 4*2 + 4*2 (dilated 3x3: k_eff 5) = 20 px, an even field centred between pixels
    assert (y1 - y0, x1 - x0) == (20, 20)
    outside = erf.heatmap.copy()
    outside[max(y0, 0):y1, max(x0, 0):x1] = 0
    assert outside.sum() == 0
    assert 0 < erf.radius <= 10 * 2 ** 0.5  # inside the 20x20 box around its centre


def test_bounded_memory_and_bad_requests():
    with pytest.raises(ConfigError) as e:
        layerscope.effective_receptive_field(box_filter_stack(2, 2), input_size=(1, 64, 64), max_bytes=1000)
    assert e.value.code == "LS968"
    head = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2))
    with pytest.raises(InputSpecError):
        layerscope.effective_receptive_field(head, input_size=(1, 16, 16), samples=1)
    with pytest.raises(ConfigError):
        layerscope.effective_receptive_field(box_filter_stack(1), input_size=(1, 1, 8), full_shape=True, samples=0)


def test_meta_model_gets_random_weights():
    with torch.device("meta"):
        net = box_filter_stack(3, dims=2)
    erf = layerscope.effective_receptive_field(net, input_size=(1, 21, 21), samples=2, inputs="ones")
    assert erf.heatmap.shape == (21, 21) and np.isfinite(erf.heatmap).all() and erf.heatmap.sum() > 0
    assert all(p.device.type == "meta" for p in net.parameters())


def test_plots_return_axes():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    erf2 = layerscope.effective_receptive_field(box_filter_stack(4, 2), input_size=(1, 25, 25), samples=1)
    ax = erf2.plot()
    assert ax.images and ax.patches  # heatmap, the radius circle and the theoretical box
    erf1 = layerscope.effective_receptive_field(box_filter_stack(4), input_size=(1, 1, 25), full_shape=True, samples=1)
    ax1 = Figure().add_subplot()
    assert erf1.plot(ax=ax1) is ax1 and ax1.lines
