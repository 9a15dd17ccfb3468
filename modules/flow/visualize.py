"""Flow as colour (the Middlebury colour wheel of Baker et al. 2007): hue = direction, saturation = magnitude.

White is no motion; fully saturated colour is motion of `max_magnitude` pixels. Motion beyond it is darkened, so
clipped vectors are visible. One scale for the whole clip keeps colours comparable from frame to frame.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from ..flowvid.warp import check_flow

# Hue segments of the wheel (red-yellow, yellow-green, green-cyan, cyan-blue, blue-magenta, magenta-red); their
# lengths follow perceptual spacing, as in the Middlebury evaluation code.
_SEGMENTS = (15, 6, 4, 11, 13, 6)


def colour_wheel() -> torch.Tensor:
    """(55, 3) RGB in [0, 1] around the wheel."""
    rows = []
    # Each segment ramps one channel while holding another at full: (channel held, channel ramped, rising?).
    plan = ((0, 1, True), (1, 0, False), (1, 2, True), (2, 1, False), (2, 0, True), (0, 2, False))
    for length, (held, ramped, rising) in zip(_SEGMENTS, plan):
        ramp = torch.floor(255 * torch.arange(length, dtype=torch.float64) / length) / 255
        seg = torch.zeros(length, 3, dtype=torch.float64)
        seg[:, held] = 1.0
        seg[:, ramped] = ramp if rising else 1 - ramp
        rows.append(seg)
    return torch.cat(rows).float()


def flow_to_rgb(flow: torch.Tensor, max_magnitude: Optional[float] = None) -> torch.Tensor:
    """(N, 2, H, W) flow -> (N, H, W, 3) float RGB in [0, 1] (ComfyUI IMAGE layout).

    max_magnitude: pixels of motion shown fully saturated; None or <= 0 uses the largest magnitude in `flow`.
    """
    check_flow(flow, "flow")
    if max_magnitude is None or max_magnitude <= 0:
        max_magnitude = float(torch.linalg.vector_norm(flow.float(), dim=1).max())
    scale = max(max_magnitude, 1e-6)  # a still clip is all white instead of NaN
    wheel = colour_wheel().to(flow.device)
    n_colours = wheel.shape[0]
    out = torch.empty(flow.shape[0], *flow.shape[2:], 3, device=flow.device)
    for i in range(flow.shape[0]):  # one frame at a time: a few frame-sized buffers, whatever the clip length
        u, v = flow[i, 0].float() / scale, flow[i, 1].float() / scale
        radius = torch.sqrt(u * u + v * v)
        position = (torch.atan2(-v, -u) / math.pi + 1) / 2 * (n_colours - 1)
        k0 = position.floor().long().clamp(0, n_colours - 1)
        k1 = (k0 + 1) % n_colours
        frac = (position - k0)[..., None]
        colour = (1 - frac) * wheel[k0] + frac * wheel[k1]
        inside = (radius <= 1)[..., None]
        out[i] = torch.where(inside, 1 - radius[..., None] * (1 - colour), colour * 0.75)
    return out
