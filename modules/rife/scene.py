"""A cheap scene-cut score for frame sequences, used to avoid interpolating across cuts.

Score of a pair = mean absolute difference of the two frames' grayscale thumbnails (area-downscaled so the longer
side is at most THUMB_SIZE pixels), in 0..1 for frames in 0..1. Downscaling first makes the score insensitive to
noise and small motion; a hard cut between different shots typically scores well above 0.1, while consecutive
frames of one shot usually score below 0.05. It is not SSIM (the official script's test), only a fast stand-in.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..common import chunk_ranges

THUMB_SIZE = 64
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights
_CHUNK = 16


def _thumbnails(frames: torch.Tensor) -> torch.Tensor:
    """[F,h,w] grayscale thumbnails of [F,H,W,3] frames, computed in chunks so memory stays bounded."""
    count, height, width, _ = frames.shape
    factor = max(1, math.ceil(max(height, width) / THUMB_SIZE))
    size = (max(1, height // factor), max(1, width // factor))
    luma = torch.tensor(_LUMA, dtype=torch.float32)
    out = torch.empty((count, *size), dtype=torch.float32)
    for start, end in chunk_ranges(count, _CHUNK):
        gray = (frames[start:end].to(device="cpu", dtype=torch.float32) * luma).sum(-1, keepdim=True)
        out[start:end] = F.adaptive_avg_pool2d(gray.permute(0, 3, 1, 2), size)[:, 0]
    return out


def scene_scores(frames: torch.Tensor) -> torch.Tensor:
    """[F-1] difference score of each consecutive pair of [F,H,W,3] frames (see module docstring)."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [F,H,W,3], got shape {list(frames.shape)}")
    thumbs = _thumbnails(frames)
    return (thumbs[1:] - thumbs[:-1]).abs().mean(dim=(1, 2))


def detect_scene_cuts(frames: torch.Tensor, threshold: float) -> torch.Tensor:
    """Bool [F-1]: True where the pair (i, i+1) scores above `threshold` (in 0..1), i.e. a cut lies between them."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"scene cut threshold must be in 0..1, got {threshold}")
    return scene_scores(frames) > threshold
