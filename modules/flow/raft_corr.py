"""RAFT's all-pairs correlation pyramid and its lookup (Sec. 3.2).

The volume holds the dot product of every 1/8-resolution feature of image 1 with every one of image 2, divided by
sqrt(channels); its last two dimensions are average-pooled 3 times (4 levels). A lookup samples, at each level, the
(2r+1)² window around each pixel's current match (coords / 2^level) with bilinear interpolation, zeros outside.

Channel order matters for the official weights: within a level, the window index is (i, j) -> i·(2r+1) + j where
i steps the *x* offset and j the *y* offset. (The official code builds its offset grid as meshgrid(dy, dx) and adds it
to (x, y) coordinates, which gives this order; the first motion-encoder convolution was trained on it.)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

LEVELS = 4
RADIUS = 4


def lookup_channels(levels: int = LEVELS, radius: int = RADIUS) -> int:
    return levels * (2 * radius + 1) ** 2


class CorrPyramid:
    """Built once per image pair; memory is (H/8·W/8)² floats at the finest level (64 MiB at 512×512)."""

    def __init__(self, fmap1: torch.Tensor, fmap2: torch.Tensor, levels: int = LEVELS, radius: int = RADIUS) -> None:
        b, c, h, w = fmap1.shape
        corr = torch.matmul(fmap1.reshape(b, c, h * w).transpose(1, 2), fmap2.reshape(b, c, h * w))
        corr = (corr / torch.sqrt(torch.tensor(float(c)))).reshape(b * h * w, 1, h, w)
        self.levels = [corr]
        for _ in range(levels - 1):
            corr = F.avg_pool2d(corr, 2, stride=2)
            self.levels.append(corr)
        self.radius = radius
        self.batch, self.height, self.width = b, h, w

    def lookup(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (B, 2, H/8, W/8) absolute (x, y) positions in image 2 -> (B, levels·(2r+1)², H/8, W/8)."""
        r = self.radius
        side = 2 * r + 1
        steps = torch.linspace(-r, r, side, device=coords.device, dtype=coords.dtype)
        # offset[i, j] = (steps[i], steps[j]) added to (x, y): i moves x, j moves y (see the module docstring).
        offset = torch.stack(torch.meshgrid(steps, steps, indexing="ij"), dim=-1).view(1, side, side, 2)
        centre = coords.permute(0, 2, 3, 1).reshape(-1, 1, 1, 2)
        features = []
        for level, corr in enumerate(self.levels):
            points = centre / 2**level + offset
            lh, lw = corr.shape[-2:]
            # Pixel -> [-1, 1] with align_corners=True. On a 1-pixel axis the official code divides by zero; there
            # grid_sample reads that one pixel for any finite grid value, so a denominator of 1 is exact.
            grid = torch.stack(
                [2 * points[..., 0] / max(lw - 1, 1) - 1, 2 * points[..., 1] / max(lh - 1, 1) - 1], dim=-1
            )
            sampled = F.grid_sample(corr, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
            features.append(sampled.view(self.batch, self.height, self.width, side * side))
        return torch.cat(features, dim=-1).permute(0, 3, 1, 2).contiguous()
