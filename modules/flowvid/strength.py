"""Per-pixel SDEdit strength for FlowVid-style generation, as a latent noise mask plus a gate over the schedule.

FlowVid starts visible regions from the warped edit (SDEdit) and occluded regions from pure noise. One full-schedule
sampling run does both: each latent pixel carries the share of the schedule it is denoised for (0 = kept as given,
`strength` = SDEdit from the warped latent, 1 = from noise), and a gate opens a pixel once the share of the schedule
still to run (in model timesteps, as ComfyUI's Differential Diffusion measures it) drops to its value. Until then the
sampler holds it at the warped latent re-noised to the current level, which is where SDEdit would start it.
"""
from __future__ import annotations

import torch


def strength_mask(occlusion: torch.Tensor, strength: float, keep: tuple[int, ...] = (0,)) -> torch.Tensor:
    """(N, 1, h, w) per-pixel denoise share: 1 where `occlusion` (N, 1, h, w) is 1, `strength` elsewhere, 0 on the
    frames in `keep` (the reference frame, which must come out exactly as given)."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in 0..1 (share of the schedule visible pixels are denoised), got {strength}")
    if occlusion.dim() != 4 or occlusion.shape[1] != 1:
        raise ValueError(f"occlusion must be a latent-size mask (N, 1, h, w); found shape {list(occlusion.shape)}")
    mask = torch.where(occlusion > 0, torch.ones_like(occlusion), torch.full_like(occlusion, strength))
    for index in keep:
        mask[index] = 0.0
    return mask


def remaining_share(t_now: float, t_start: float, t_end: float) -> float:
    """Share of the schedule (in timesteps) still to run at timestep t_now: 1 at the first step, 0 at the end."""
    if t_start == t_end:
        return 0.0
    return (t_now - t_end) / (t_start - t_end)


def open_pixels(mask: torch.Tensor, remaining: float) -> torch.Tensor:
    """Binary mask of the pixels being denoised now: share >= what remains, and never a share of 0 (kept frames stay
    exact even on a last step whose timestep is already the schedule's end)."""
    return ((mask >= remaining) & (mask > 0)).to(mask.dtype)
