"""Backward warping with UniMatch's conventions (flow channel 0 = dx along columns, channel 1 = dy along rows).

warp(I, F)(p) = I(p + F(p)): bilinear, zeros outside the image, align_corners=True, with the sampling grid
normalised by (W−1) and (H−1) exactly as UniMatch's geometry code does, so results match it bit for bit.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def check_flow(flow: torch.Tensor, name: str = "flow") -> None:
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"{name} must be (batch, 2, H, W) with channel 0 = dx, 1 = dy; found shape {list(flow.shape)}")
    if flow.shape[2] < 2 or flow.shape[3] < 2:
        raise ValueError(f"{name} must be at least 2×2 pixels; found {flow.shape[2]}×{flow.shape[3]}")


def _normalised_grid(flow: torch.Tensor) -> torch.Tensor:
    """Sampling positions p + F(p) in grid_sample's [-1, 1] coordinates, (B, H, W, 2) as (x, y)."""
    _, _, h, w = flow.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, device=flow.device, dtype=flow.dtype),
        torch.arange(w, device=flow.device, dtype=flow.dtype),
        indexing="ij",
    )
    x = xs + flow[:, 0]
    y = ys + flow[:, 1]
    return torch.stack([2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1], dim=-1)


def warp_backward(image: torch.Tensor, flow_bwd: torch.Tensor) -> torch.Tensor:
    """Sample `image` (B or 1, C, H, W) at p + flow_bwd(p); a single image is warped by every flow of the batch."""
    check_flow(flow_bwd, "flow_bwd")
    if image.dim() != 4 or image.shape[2:] != flow_bwd.shape[2:]:
        raise ValueError(
            f"image must be (batch, C, H, W) with the flow's size {list(flow_bwd.shape[2:])}; found {list(image.shape)}"
        )
    batch = flow_bwd.shape[0]
    if image.shape[0] == 1 and batch > 1:
        image = image.expand(batch, -1, -1, -1)
    elif image.shape[0] != batch:
        raise ValueError(f"image batch {image.shape[0]} does not match flow batch {batch} (expected equal, or 1 image)")
    # Sample in at least float32: a half-precision grid is off by a quarter pixel at 512 px.
    work = torch.promote_types(image.dtype, torch.float32)
    grid = _normalised_grid(flow_bwd.to(work))
    out = F.grid_sample(image.to(work), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out.to(image.dtype)


def inbounds_mask(flow_bwd: torch.Tensor) -> torch.Tensor:
    """(B, H, W) float mask: 1 where p + flow_bwd(p) lies inside the image (borders included)."""
    check_flow(flow_bwd, "flow_bwd")
    grid = _normalised_grid(flow_bwd)
    return ((grid >= -1) & (grid <= 1)).all(dim=-1).to(flow_bwd.dtype)
