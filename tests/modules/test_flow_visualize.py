"""End-point error and the colour-wheel visualisation."""
from __future__ import annotations

import pytest
import torch

from modules.flow import colour_wheel, end_point_error, epe_map, flow_to_rgb


def test_end_point_error_is_the_mean_euclidean_distance():
    truth = torch.zeros(1, 2, 4, 4)
    flow = truth.clone()
    flow[0, 0, 0, 0], flow[0, 1, 0, 0] = 3.0, 4.0  # one pixel off by a 3-4-5 vector
    assert epe_map(flow, truth)[0, 0, 0] == 5.0
    assert end_point_error(flow, truth) == pytest.approx(5 / 16)
    valid = torch.zeros(1, 4, 4)
    valid[0, 0, :2] = 1
    assert end_point_error(flow, truth, valid) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="marks no pixel"):
        end_point_error(flow, truth, torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match="same shape"):
        epe_map(flow, torch.zeros(1, 2, 4, 5))


def test_colour_wheel_has_the_middlebury_segments():
    wheel = colour_wheel()
    assert wheel.shape == (55, 3)
    assert torch.equal(wheel[0], torch.tensor([1.0, 0.0, 0.0]))  # red
    assert torch.equal(wheel[15], torch.tensor([1.0, 1.0, 0.0]))  # yellow after 15 red-yellow steps
    assert torch.equal(wheel[21], torch.tensor([0.0, 1.0, 0.0]))  # green after 6 more
    assert torch.equal(wheel[25], torch.tensor([0.0, 1.0, 1.0]))  # cyan after 4 more
    assert torch.equal(wheel[36], torch.tensor([0.0, 0.0, 1.0]))  # blue after 11 more
    assert torch.equal(wheel[49], torch.tensor([1.0, 0.0, 1.0]))  # magenta after 13 more


def test_flow_colours():
    flow = torch.zeros(2, 2, 3, 3)
    flow[0, 0, 0, 0] = 4.0  # right, at the full scale
    flow[0, 0, 0, 1] = -4.0  # left
    flow[0, 1, 0, 2] = 2.0  # down, half scale
    flow[1, 0, 1, 1] = 8.0  # twice the scale: darkened
    rgb = flow_to_rgb(flow, max_magnitude=4.0)
    assert rgb.shape == (2, 3, 3, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert torch.equal(rgb[0, 1, 1], torch.ones(3))  # no motion is white
    right, left, down = rgb[0, 0, 0], rgb[0, 0, 1], rgb[0, 0, 2]
    assert right[0] > 0.9 and right[1] < 0.1  # red
    assert left[0] < 0.1 and left[1] > 0.5 and left[2] > 0.9  # cyan-blue
    assert down.min() > 0.3  # half saturation keeps it pale
    assert rgb[1, 1, 1].max() <= 0.75 + 1e-6
    auto = flow_to_rgb(flow)  # scale = the largest motion (8 px)
    assert torch.allclose(auto[0, 0, 0], torch.tensor([1.0, 0.5, 0.5]), atol=1e-6)  # red at half saturation
    assert torch.equal(flow_to_rgb(torch.zeros(1, 2, 4, 4)), torch.ones(1, 4, 4, 3))
