"""Spatial hints for FlowVid-style generation: FlowVid conditions on depth or edges; edges come from kornia's Canny
(a depth map the user supplies needs no processing here)."""
from __future__ import annotations

import torch
from kornia.filters import canny

from ..common import chunk_ranges


def canny_hint(images: torch.Tensor, low: float = 0.1, high: float = 0.2, chunk: int = 16) -> torch.Tensor:
    """IMAGE (N, H, W, C) in 0..1 -> Canny edges as IMAGE (N, H, W, 3), white edges on black (ControlNet's convention).

    Thresholds are on the gradient magnitude of the grayscale frame, as kornia computes it (images in 0..1). Frames go `chunk` at a time,
    so a long clip needs no full-size float copies of every intermediate.
    """
    if images.dim() != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(f"images must be an IMAGE batch [frames, height, width, channels]; found {list(images.shape)}")
    if not 0.0 <= low < high:
        raise ValueError(f"canny thresholds must satisfy 0 <= low < high; got low {low}, high {high}")
    out = torch.empty((*images.shape[:3], 3), dtype=torch.float32)
    for start, end in chunk_ranges(images.shape[0], chunk):
        frames = images[start:end, :, :, :3].float().movedim(-1, 1)  # kornia makes RGB grayscale itself
        _, edges = canny(frames, low_threshold=low, high_threshold=high)
        out[start:end] = edges.movedim(1, -1).expand(-1, -1, -1, 3).to(out.device)
    return out
