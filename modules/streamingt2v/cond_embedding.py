"""E_cond, the CAM frame encoder: conditioning frames in [-1,1] -> features at latent resolution (/8).

Two official variants share the conv layout and differ only in normalisation:
* "ms"  (StreamingModelscope, `unet.controlnet_cond_embedding.*`): conv -> SiLU after each block;
* "svd" (StreamingSVD, `controlnet.controlnet_cond_embedding.*`): conv -> LayerNorm over channels -> SiLU.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

VARIANTS = ("ms", "svd")


class CondFrameEncoder(nn.Module):
    """conv_in + SiLU, then per width step a stride-1 conv and a stride-2 conv (6 blocks for 4 widths), then conv_out."""

    def __init__(
        self,
        out_channels: int = 320,
        block_channels: Sequence[int] = (32, 96, 256, 512),
        in_channels: int = 3,
        variant: str = "ms",
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"E_cond variant must be one of {VARIANTS}, got {variant!r}")
        self.variant = variant
        self.in_channels = in_channels
        self.conv_in = nn.Conv2d(in_channels, block_channels[0], 3, padding=1)
        self.blocks = nn.ModuleList()
        widths: list[int] = []
        for c_in, c_out in zip(block_channels[:-1], block_channels[1:]):
            self.blocks.append(nn.Conv2d(c_in, c_in, 3, padding=1))
            self.blocks.append(nn.Conv2d(c_in, c_out, 3, padding=1, stride=2))
            widths += [c_in, c_out]
        if variant == "svd":
            self.norms = nn.ModuleList(nn.LayerNorm(w) for w in widths)
        self.conv_out = nn.Conv2d(block_channels[-1], out_channels, 3, padding=1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames [N, 3, H, W] in [-1, 1] -> [N, out_channels, H/8, W/8] (for 4 widths)."""
        if frames.ndim != 4 or frames.shape[1] != self.in_channels:
            raise ValueError(f"E_cond expects frames [N, {self.in_channels}, H, W]; got {list(frames.shape)}")
        h = F.silu(self.conv_in(frames))
        for i, block in enumerate(self.blocks):
            h = block(h)
            if self.variant == "svd":
                h = self.norms[i](h.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            h = F.silu(h)
        return self.conv_out(h)
