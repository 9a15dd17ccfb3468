"""CV-VAE encoder: causal 3-D conv stack, [B,3,T,H,W] -> moments [B,2·z,1+(T-1)//4,H/8,W/8] for one chunk/tile."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ResnetBlock3D, SpatialAttention, group_norm
from .config import CVVAEConfig
from .layers import CausalConv3d, Downsample3D


class Encoder(nn.Module):
    def __init__(self, config: CVVAEConfig) -> None:
        super().__init__()
        ch = config.ch
        self.conv_in = CausalConv3d(config.in_channels, ch, 3)
        self.down = nn.ModuleList()
        width = ch
        for level, mult in enumerate(config.ch_mult):
            stage = nn.Module()
            blocks = []
            for _ in range(config.num_res_blocks):
                blocks.append(ResnetBlock3D(width, ch * mult, causal=True))
                width = ch * mult
            stage.block = nn.ModuleList(blocks)
            if level != config.num_levels - 1:
                stage.downsample = Downsample3D(width, time_stride=config.level_has_time_stride(level))
            self.down.append(stage)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock3D(width, width, causal=True)
        self.mid.attn_1 = SpatialAttention(width)
        self.mid.block_2 = ResnetBlock3D(width, width, causal=True)
        self.norm_out = group_norm(width)
        self.conv_out = CausalConv3d(width, 2 * config.z_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for stage in self.down:
            for block in stage.block:
                h = block(h)
            if hasattr(stage, "downsample"):
                h = stage.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(F.silu(self.norm_out(h)))
