"""The 5 image-conditioning channels FancyVideo concatenates to the noisy latent: image latent (4) and mask (1).

I2V puts the reference image's latent at frame 0 (mask 1 there, 0 elsewhere); video extending puts 16 reference
latents at frames 0-15 of 32, backtracking at frames 16-31. Latents must already be in the UNet's space (VAE output
times 0.18215 for SD1.5).
"""
from __future__ import annotations

import torch

from .loading import LATENT_CHANNELS


def image_condition(image_latents: torch.Tensor, num_frames: int, start: int = 0) -> torch.Tensor:
    """[F, 5, h, w]: `image_latents` [n, 4, h, w] at frames start..start+n-1 with mask 1 there, zeros elsewhere."""
    if image_latents.ndim != 4 or image_latents.shape[1] != LATENT_CHANNELS:
        raise ValueError(f"expected image latents [n, {LATENT_CHANNELS}, h, w], got shape {tuple(image_latents.shape)}")
    count = image_latents.shape[0]
    if start < 0 or start + count > num_frames:
        raise ValueError(f"{count} image latents starting at frame {start} do not fit in {num_frames} frames")
    out = image_latents.new_zeros((num_frames, LATENT_CHANNELS + 1, *image_latents.shape[2:]))
    out[start:start + count, :LATENT_CHANNELS] = image_latents
    out[start:start + count, LATENT_CHANNELS] = 1
    return out
