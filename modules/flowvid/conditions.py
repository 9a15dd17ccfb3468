"""FlowVid's flow conditions for every frame: the edited first frame warped to frame i, gray where unreliable,
and the unreliable-pixel mask at latent size (Sec. 4.2). The caller VAE-encodes `warped`."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .occlusion import consistency_occlusion, gray_fill, mask_to_latent
from .warp import inbounds_mask, warp_backward


@dataclass
class WarpCondition:
    warped: torch.Tensor  # (N, C, H, W) gray-filled warped first frame
    mask: torch.Tensor  # (N, H, W) 1 = occluded (or sampled outside frame 1)
    latent_mask: torch.Tensor  # (N, 1, H/8, W/8)


def warp_condition(
    first_edited: torch.Tensor,
    flow_fwd: torch.Tensor,
    flow_bwd: torch.Tensor,
    gray: float = 0.5,
    latent_mode: str = "maxpool",
    gray_out_of_bounds: bool = True,
    factor: int = 8,
) -> WarpCondition:
    """first_edited (1, C, H, W) in [0, 1]; flow_fwd = F₁→ᵢ and flow_bwd = Fᵢ→₁, (N, 2, H, W) each.

    gray_out_of_bounds also grays pixels whose source lies outside frame 1: zeros padding would otherwise paint
    them black, and black is a confident (wrong) colour where gray tells the model "unknown".
    """
    _, occ_bwd = consistency_occlusion(flow_fwd, flow_bwd)
    mask = occ_bwd
    if gray_out_of_bounds:
        mask = torch.maximum(occ_bwd, 1 - inbounds_mask(flow_bwd))
    warped = gray_fill(warp_backward(first_edited, flow_bwd), mask, gray)
    return WarpCondition(warped, mask, mask_to_latent(mask, factor, latent_mode))
