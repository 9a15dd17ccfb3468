"""CV-VAE decoder: non-causal 3-D conv stack, [B,z,L,h,w] -> video [B,3,4L-3,8h,8w] for one chunk/tile."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ResnetBlock3D, SpatioTemporalAttention, group_norm
from .config import CVVAEConfig
from .layers import Upsample3D


class Decoder(nn.Module):
    def __init__(self, config: CVVAEConfig) -> None:
        super().__init__()
        ch, levels = config.ch, config.num_levels
        width = ch * config.ch_mult[-1]
        self.conv_in = nn.Conv3d(config.z_channels, width, 3, padding=1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock3D(width, width, causal=False)
        self.mid.attn_1 = SpatioTemporalAttention(width)
        self.mid.block_2 = ResnetBlock3D(width, width, causal=False)
        # Built from the deepest level up, stored by level index (`up.{i}` = level i), as in the official model.
        stages: list[nn.Module] = [nn.Module() for _ in range(levels)]
        for level in reversed(range(levels)):
            stage = stages[level]
            blocks = []
            for _ in range(config.num_res_blocks + 1):
                blocks.append(ResnetBlock3D(width, ch * config.ch_mult[level], causal=False))
                width = ch * config.ch_mult[level]
            stage.block = nn.ModuleList(blocks)
            if level != 0:
                # Mirror of the encoder: decoder level i undoes encoder downsample i-1.
                stage.upsample = Upsample3D(width, time_up=config.level_has_time_stride(level - 1))
        self.up = nn.ModuleList(stages)
        self.norm_out = group_norm(width)
        self.conv_out = nn.Conv3d(width, config.out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(z)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        for stage in reversed(self.up):
            for block in stage.block:
                h = block(h)
            if hasattr(stage, "upsample"):
                h = stage.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))
