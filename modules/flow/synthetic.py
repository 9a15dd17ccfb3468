"""A synthetic clip with exactly known motion, for tests and benchmarks of flow estimators.

The background is a smooth multi-scale texture (a sum of random sinusoids, wavelengths from 6 px to half the frame,
amplitude growing with wavelength as in natural images) that translates by
`velocity` pixels per frame; an optional square occluder with its own texture translates at its own velocity. Both
are evaluated analytically at shifted coordinates, so sub-pixel motion is exact (no resampling blur), and every
pixel of every frame has a true flow against frame 0 in both directions, in the FlowVid convention:
flow_fwd[i] = F₀→ᵢ (where frame-0 pixels are in frame i), flow_bwd[i] = Fᵢ→₀ (where frame-i pixels were in frame 0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch


@dataclass(frozen=True)
class Occluder:
    """A square of side `size` px whose top-left corner is at `start` (x, y) in frame 0, moving `velocity` px/frame."""

    size: int = 24
    start: tuple[float, float] = (20.0, 20.0)
    velocity: tuple[float, float] = (3.0, 2.0)


@dataclass
class SyntheticClip:
    frames: torch.Tensor  # (N, 3, H, W) float32 in [0, 1]
    flow_fwd: torch.Tensor  # (N, 2, H, W) true F₀→ᵢ
    flow_bwd: torch.Tensor  # (N, 2, H, W) true Fᵢ→₀
    valid_fwd: torch.Tensor  # (N, H, W) 1 where the frame-0 pixel is inside frame i and not hidden there
    valid_bwd: torch.Tensor  # (N, H, W) 1 where the frame-i pixel is inside frame 0 and not hidden there
    occluded_bwd: torch.Tensor  # (N, H, W) 1 where the frame-i pixel is inside frame 0 but hidden by the occluder


def _texture(x: torch.Tensor, y: torch.Tensor, seed: int, longest: float, waves: int = 32) -> torch.Tensor:
    """(3, H, W) values in [0, 1]: a coloured sum of sinusoids with random directions, wavelengths and phases.

    Wavelengths are log-uniform in [6, longest] px. Structure at every scale matters: coarse-to-fine estimators
    (DIS, RAFT's pyramid) see only the long waves at their coarsest levels.
    """
    gen = torch.Generator().manual_seed(seed)
    angle = torch.rand(waves, generator=gen, dtype=torch.float64) * math.pi
    wavelength = 6.0 * (longest / 6.0) ** torch.rand(waves, generator=gen, dtype=torch.float64)
    phase = torch.rand(waves, generator=gen, dtype=torch.float64) * 2 * math.pi
    colour = torch.rand(3, waves, generator=gen, dtype=torch.float64) * 0.6 + 0.4
    amplitude = (wavelength / longest) ** 0.5  # coarse structure dominates, as in natural images
    k = 2 * math.pi / wavelength
    kx, ky = k * torch.cos(angle), k * torch.sin(angle)
    weights = colour * amplitude  # (3, waves)
    out = torch.zeros(3, x.numel(), dtype=torch.float64)
    xf, yf = x.reshape(1, -1), y.reshape(1, -1)
    # Waves in chunks of about 4 M values: few large operations (fast even on a busy CPU), bounded memory at any size.
    step = max(1, (1 << 22) // max(x.numel(), 1))
    for start in range(0, waves, step):
        part = slice(start, start + step)
        wave = torch.sin(kx[part, None] * xf + ky[part, None] * yf + phase[part, None])  # (chunk, H·W)
        out += weights[:, part] @ wave
    out = out.reshape(3, *x.shape)
    out /= weights.sum(dim=1)[:, None, None]
    return (0.5 + 0.45 * out).clamp(0, 1)


def _inside(x: torch.Tensor, y: torch.Tensor, width: int, height: int) -> torch.Tensor:
    return (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)


def _in_square(x: torch.Tensor, y: torch.Tensor, corner: tuple[float, float], size: int) -> torch.Tensor:
    return (x >= corner[0]) & (x < corner[0] + size) & (y >= corner[1]) & (y < corner[1] + size)


def synthetic_clip(
    num_frames: int = 6,
    height: int = 96,
    width: int = 128,
    velocity: tuple[float, float] = (1.5, -0.75),
    occluder: Optional[Occluder] = None,
    seed: int = 0,
) -> SyntheticClip:
    """Render the clip and its true flows; see the module docstring for the conventions."""
    if num_frames < 1 or height < 2 or width < 2:
        raise ValueError(f"need at least 1 frame of 2×2 pixels; got {num_frames} frames of {height}×{width}")
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij"
    )
    vx, vy = velocity
    longest = max(48.0, max(height, width) / 2)
    frames, fwd, bwd, valid_f, valid_b, occl = [], [], [], [], [], []
    for i in range(num_frames):
        # Content moves by +i·v: frame i at p shows the texture at p − i·v.
        image = _texture(xs - i * vx, ys - i * vy, seed, longest)
        f_x = torch.full_like(xs, i * vx)
        f_y = torch.full_like(ys, i * vy)
        b_x, b_y = -f_x, -f_y
        hidden_b = torch.zeros_like(xs, dtype=torch.bool)
        hidden_f = torch.zeros_like(xs, dtype=torch.bool)
        if occluder is not None:
            ux, uy = occluder.velocity
            corner0 = occluder.start
            corner_i = (corner0[0] + i * ux, corner0[1] + i * uy)
            on_i = _in_square(xs, ys, corner_i, occluder.size)
            on_0 = _in_square(xs, ys, corner0, occluder.size)
            # Its own texture, darker, so its edges are visible.
            patch = _texture(xs - i * ux, ys - i * uy, seed + 1, float(occluder.size)) * 0.6
            image = torch.where(on_i[None], patch, image)
            b_x = torch.where(on_i, torch.full_like(xs, -i * ux), b_x)
            b_y = torch.where(on_i, torch.full_like(ys, -i * uy), b_y)
            f_x = torch.where(on_0, torch.full_like(xs, i * ux), f_x)
            f_y = torch.where(on_0, torch.full_like(ys, i * uy), f_y)
            # Background seen in one frame but covered by the square in the other.
            hidden_b = ~on_i & _in_square(xs + b_x, ys + b_y, corner0, occluder.size)
            hidden_f = ~on_0 & _in_square(xs + f_x, ys + f_y, corner_i, occluder.size)
        inside_b = _inside(xs + b_x, ys + b_y, width, height)
        inside_f = _inside(xs + f_x, ys + f_y, width, height)
        frames.append(image)
        fwd.append(torch.stack([f_x, f_y]))
        bwd.append(torch.stack([b_x, b_y]))
        valid_f.append(inside_f & ~hidden_f)
        valid_b.append(inside_b & ~hidden_b)
        occl.append(inside_b & hidden_b)
    return SyntheticClip(
        frames=torch.stack(frames).float(),
        flow_fwd=torch.stack(fwd).float(),
        flow_bwd=torch.stack(bwd).float(),
        valid_fwd=torch.stack(valid_f).float(),
        valid_bwd=torch.stack(valid_b).float(),
        occluded_bwd=torch.stack(occl).float(),
    )
