"""Occlusion from forward–backward flow consistency, gray fill, and the mask at latent size (FlowVid Sec. 4.2).

The check is UniMatch's plain-norm form of UnFlow's rule: a pixel is occluded where
|F + warp(F̂, F)| > alpha·(|F| + |F̂|) + beta, with per-pixel L2 norms and a strict comparison.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .warp import check_flow, warp_backward

LATENT_MODES = ("maxpool", "nearest")


def consistency_occlusion(
    flow_fwd: torch.Tensor, flow_bwd: torch.Tensor, alpha: float = 0.01, beta: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """(occ_fwd, occ_bwd), each (B, H, W) float in {0, 1}.

    flow_fwd = F₁→ᵢ, flow_bwd = Fᵢ→₁. occ_bwd marks pixels of frame i whose content frame 1 does not show; it is
    the mask FlowVid paints gray after warping frame 1 with flow_bwd.
    """
    check_flow(flow_fwd, "flow_fwd")
    check_flow(flow_bwd, "flow_bwd")
    if flow_fwd.shape != flow_bwd.shape:
        raise ValueError(
            f"flow_fwd and flow_bwd must have the same shape; found {list(flow_fwd.shape)} and {list(flow_bwd.shape)}"
        )
    threshold = alpha * (torch.norm(flow_fwd, dim=1) + torch.norm(flow_bwd, dim=1)) + beta
    diff_fwd = torch.norm(flow_fwd + warp_backward(flow_bwd, flow_fwd), dim=1)
    diff_bwd = torch.norm(flow_bwd + warp_backward(flow_fwd, flow_bwd), dim=1)
    return (diff_fwd > threshold).to(flow_fwd.dtype), (diff_bwd > threshold).to(flow_fwd.dtype)


def _as_mask4d(mask: torch.Tensor) -> torch.Tensor:
    if mask.dim() == 3:
        return mask.unsqueeze(1)
    if mask.dim() == 4 and mask.shape[1] == 1:
        return mask
    raise ValueError(f"mask must be (B, H, W) or (B, 1, H, W); found shape {list(mask.shape)}")


def gray_fill(warped: torch.Tensor, occlusion: torch.Tensor, gray: float = 0.5) -> torch.Tensor:
    """warped·(1 − occ) + gray·occ, with images in [0, 1] (gray 0.5 is an assumption; the paper gives no value)."""
    occ = _as_mask4d(occlusion).to(warped.dtype)
    if occ.shape[0] != warped.shape[0] or occ.shape[2:] != warped.shape[2:]:
        raise ValueError(f"occlusion {list(occlusion.shape)} does not match the warped images {list(warped.shape)}")
    return warped * (1 - occ) + gray * occ


def mask_to_latent(mask: torch.Tensor, factor: int = 8, mode: str = "maxpool") -> torch.Tensor:
    """Binary pixel mask (B, H, W) -> (B, 1, H/factor, W/factor).

    "maxpool" marks a latent pixel occluded if any of its factor×factor pixels is, so no occluded pixel is ever
    treated as reliable (the safer choice, and the default); "nearest" samples one pixel per block.
    """
    if mode not in LATENT_MODES:
        raise ValueError(f"unknown latent resize mode '{mode}'; expected one of {', '.join(LATENT_MODES)}")
    m = _as_mask4d(mask)
    h, w = m.shape[2:]
    if h % factor or w % factor:
        raise ValueError(f"mask size must be a multiple of {factor} to match the latent; found {h}×{w}")
    if mode == "maxpool":
        return F.max_pool2d(m, kernel_size=factor, stride=factor)
    return F.interpolate(m, size=(h // factor, w // factor), mode="nearest")
