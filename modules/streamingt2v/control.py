"""The CAM control branch (`unet.*` in streaming_t2v.ckpt): a ControlNet-style copy of the UNet3D encoder and mid
block that reads the first 8 noisy latent frames of the new chunk plus E_cond(last 8 frames of the previous chunk).

Official configuration: E_cond is added right after transformer_in ("addition" merge), zero-convs are Identity (so
the branch's raw skips and mid output are its outputs), only the 77 text tokens are used (no APM, no image tokens).
"""
from __future__ import annotations

from typing import Sequence

import torch

from .apm import TEXT_TOKENS
from .cond_embedding import CondFrameEncoder
from .unet3d import Timestep, UNet3DConfig, UNet3DEncoder, check_video


class CAMControlBranch(UNet3DEncoder):
    """Returns the 12 skip features and the mid feature, frame-major [(B Fc), C, h, w], for the base mergers."""

    def __init__(
        self,
        config: UNet3DConfig,
        cond_channels: Sequence[int] = (32, 96, 256, 512),
        control_frames: int = 8,
        text_tokens: int = TEXT_TOKENS,
    ) -> None:
        super().__init__(config, apm=False)
        self.control_frames = control_frames
        self.text_tokens = text_tokens
        self.controlnet_cond_embedding = CondFrameEncoder(config.block_out_channels[0], cond_channels, variant="ms")

    def forward(
        self, sample: torch.Tensor, timestep: Timestep, context: torch.Tensor, cond_frames: torch.Tensor
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """sample [B, C, F, h, w] (only its first `control_frames` frames are read), context [B, >=77, D],
        cond_frames [B, Fc, 3, 8h, 8w] or [(B Fc), 3, 8h, 8w] in [-1, 1] with Fc = control_frames."""
        check_video(sample, self.config.in_channels)
        sample = sample[:, :, : self.control_frames]
        b, _, f, h, w = sample.shape
        given = list(cond_frames.shape)
        if cond_frames.ndim == 5:
            cond_frames = cond_frames.flatten(0, 1)
        if cond_frames.ndim != 4 or cond_frames.shape[0] != b * f or tuple(cond_frames.shape[-2:]) != (8 * h, 8 * w):
            raise ValueError(
                f"CAM conditioning frames must be [B={b}, {f}, 3, {8 * h}, {8 * w}] (the previous chunk's last {f} "
                f"frames at 8× the latent size); got {given}"
            )
        context = context[:, : self.text_tokens]
        temb = self.embed_time(timestep, b, f)
        x = self.stem(sample)
        cond = self.controlnet_cond_embedding(cond_frames)
        if f > 1:
            x = self.transformer_in(x, f)
        mid, skips = self.encode(x + cond, temb, context.repeat_interleave(f, dim=0), f)
        return skips, mid
