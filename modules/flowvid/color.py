"""FlowVid's global colour calibration (Eq. 5), which stops long autoregressive edits drifting toward gray:
I''_j = (I'_j − mean(I'_j)) / std(I'_j) · std(I'_1) + mean(I'_1).

Statistics are per channel over H and W with torch.std (unbiased); per channel is an assumption (the paper does
not say). The result is not clamped: Eq. 5 can leave [0, 1], and clamping is the caller's choice.
"""
from __future__ import annotations

import torch


def calibrate_colors(frames: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Match each frame's per-channel mean and std to the reference (the edited first frame).

    frames (N, C, H, W); reference (1, C, H, W) or (C, H, W). A channel with zero variance in a frame has no
    contrast to rescale; it comes out flat at the reference mean instead of NaN (its std is taken as 1, which is
    exact since every centred value is 0).
    """
    if reference.dim() == 3:
        reference = reference.unsqueeze(0)
    if frames.dim() != 4 or reference.dim() != 4 or reference.shape[0] != 1 or frames.shape[1:] != reference.shape[1:]:
        raise ValueError(
            "expected frames (N, C, H, W) and a reference (1, C, H, W) of the same C, H, W; "
            f"found {list(frames.shape)} and {list(reference.shape)}"
        )
    if frames.shape[2] * frames.shape[3] < 2:
        raise ValueError(
            f"an unbiased std needs at least 2 pixels per channel; found {frames.shape[2]}×{frames.shape[3]}"
        )
    dims = (2, 3)
    mean = frames.mean(dim=dims, keepdim=True)
    std = frames.std(dim=dims, keepdim=True)
    std = torch.where(std > 0, std, torch.ones_like(std))
    ref_mean = reference.mean(dim=dims, keepdim=True)
    ref_std = reference.std(dim=dims, keepdim=True)
    return (frames - mean) / std * ref_std + ref_mean
