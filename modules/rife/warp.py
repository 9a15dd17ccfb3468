"""Backward warping by a pixel flow field, the one warp every IFNet version uses."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def base_grid(height: int, width: int, device: torch.device) -> torch.Tensor:
    """[1,2,H,W] sampling grid in grid_sample's [-1,1] coordinates (x first), corners on pixel centres."""
    xs = torch.linspace(-1.0, 1.0, width, device=device, dtype=torch.float32)
    ys = torch.linspace(-1.0, 1.0, height, device=device, dtype=torch.float32)
    return torch.stack((xs.view(1, width).expand(height, width), ys.view(height, 1).expand(height, width))).unsqueeze(0)


def warp(image: torch.Tensor, flow: torch.Tensor, grid: torch.Tensor | None = None) -> torch.Tensor:
    """Sample `image` [N,C,H,W] at p + flow(p), flow [N,2,H,W] in pixels (channel 0 = x).

    Bilinear, border padding, align_corners=True, so the flow is normalised by (W-1)/2 and (H-1)/2. Always computed
    in float32 (half-precision grids lose sub-pixel accuracy at HD sizes) and returned in the image's dtype.
    """
    dtype = image.dtype
    height, width = image.shape[2], image.shape[3]
    if grid is None:
        grid = base_grid(height, width, image.device)
    flow = flow.float()
    # Divide (not multiply by a reciprocal): this is the official order of operations, kept for bit-exactness.
    norm = torch.cat((flow[:, 0:1] / ((width - 1.0) / 2.0), flow[:, 1:2] / ((height - 1.0) / 2.0)), 1)
    coords = (grid + norm).permute(0, 2, 3, 1)
    out = F.grid_sample(image.float(), coords, mode="bilinear", padding_mode="border", align_corners=True)
    return out.to(dtype)
