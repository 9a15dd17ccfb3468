"""Convolutional layers of the ModelScope UNet3D (diffusers semantics and names).

Activations travel frame-major as [(B F), C, H, W]; the temporal conv views them as [B, C, F, H, W].
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


def timestep_features(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features [cos | sin] of [N] timesteps (diffusers `Timesteps(dim, flip_sin_to_cos=True, shift=0)`)."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half
    angles = timesteps[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


class TimestepEmbedding(nn.Module):
    """linear_1 -> SiLU -> linear_2."""

    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(x)))


class ResnetBlock(nn.Module):
    """GN-SiLU-conv, + time embedding, GN-SiLU-conv, + (1×1-projected when the width changes) input."""

    def __init__(self, in_channels: int, out_channels: int, temb_channels: int, groups: int, eps: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.conv_shortcut is None else self.conv_shortcut(x)) + h


def _temporal_stage(channels: int, groups: int, with_dropout_slot: bool) -> nn.Sequential:
    conv = nn.Conv3d(channels, channels, (3, 1, 1), padding=(1, 0, 0))
    # conv1 is [GN, SiLU, Conv3d]; conv2..4 carry an (inactive) Dropout before the conv, shifting it to index 3.
    layers = [nn.GroupNorm(groups, channels), nn.SiLU()] + ([nn.Dropout(0.0)] if with_dropout_slot else []) + [conv]
    return nn.Sequential(*layers)


class TemporalConv(nn.Module):
    """Four (GN, SiLU, 3×1×1 Conv3d) stages along time with an identity skip (ModelScope `TemporalConvLayer`)."""

    def __init__(self, channels: int, groups: int = 32) -> None:
        super().__init__()
        self.conv1 = _temporal_stage(channels, groups, False)
        self.conv2 = _temporal_stage(channels, groups, True)
        self.conv3 = _temporal_stage(channels, groups, True)
        self.conv4 = _temporal_stage(channels, groups, True)

    def forward(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        bf, c, h, w = x.shape
        video = x.view(bf // num_frames, num_frames, c, h, w).transpose(1, 2)
        out = video + self.conv4(self.conv3(self.conv2(self.conv1(video))))
        return out.transpose(1, 2).reshape(bf, c, h, w)


class Downsample(nn.Module):
    """Stride-2 3×3 conv (padding 1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest ×2 (or to `size`, when the input was not divisible) then a 3×3 conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, size: Optional[tuple[int, int]] = None) -> torch.Tensor:
        if size is None:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        else:
            x = F.interpolate(x, size=size, mode="nearest")
        return self.conv(x)
