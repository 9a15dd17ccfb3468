"""Convolutions and resampling layers of the CV-VAE, on [B, C, T, H, W] tensors.

Parameter names and shapes follow the official modules (plain Conv3d / Conv2d weights), so state dicts load as is.
Padding is done with copies of existing values (zeros or replicated frames), which is exact in every dtype; the official
code's fp32 round trip around its pads is therefore not needed for identical results.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def replicate_front(x: torch.Tensor, frames: int) -> torch.Tensor:
    """Prepend `frames` copies of the first frame along time (causal padding)."""
    if frames == 0:
        return x
    return torch.cat([x[:, :, :1].expand(-1, -1, frames, -1, -1), x], dim=2)


def replicate_both_ends(x: torch.Tensor) -> torch.Tensor:
    """Pad one replicated frame at each end of the time axis."""
    return torch.cat([x[:, :, :1], x, x[:, :, -1:]], dim=2)


class CausalConv3d(nn.Conv3d):
    """Encoder conv: output frame t sees input frames t-2..t (first frame replicated in front); zero-padded space."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=0)
        self.pad = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad == 0:
            return super().forward(x)
        # Spatial zero padding is left to the conv itself; only time needs the explicit causal pad.
        return F.conv3d(replicate_front(x, 2 * self.pad), self.weight, self.bias, padding=(0, self.pad, self.pad))


class FrameConv2d(nn.Conv2d):
    """Per-frame 3x3 conv with a Conv2d weight (`half_3d` conv2), run as a (1,3,3) Conv3d to avoid (B·T) reshapes."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv3d(x, self.weight.unsqueeze(2), self.bias, padding=(0, 1, 1))


class Downsample3D(nn.Module):
    """Encoder downsample: zero pad right/bottom, replicate 2 frames in front, 3x3x3 conv with stride (2|1, 2, 2)."""

    def __init__(self, channels: int, time_stride: bool) -> None:
        super().__init__()
        self.conv = nn.Conv3d(channels, channels, kernel_size=3, stride=(2 if time_stride else 1, 2, 2), padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(replicate_front(x, 2), (0, 1, 0, 1)))


class Upsample3D(nn.Module):
    """Decoder upsample: nearest x2 in space, 3x3x3 conv (time replicate-padded at both ends) to n·C channels, then
    channel block k becomes frame 2t+k; with time upsampling (n=2) the first frame is dropped, so T -> 2T-1."""

    def __init__(self, channels: int, time_up: bool) -> None:
        super().__init__()
        self.factor = 2 if time_up else 1
        self.conv = nn.Conv3d(channels, channels * self.factor, kernel_size=3, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest")
        x = F.conv3d(replicate_both_ends(x), self.conv.weight, self.conv.bias, padding=(0, 1, 1))
        if self.factor == 1:
            return x
        b, nc, t, h, w = x.shape
        c = nc // self.factor
        x = x.view(b, self.factor, c, t, h, w).permute(0, 2, 3, 1, 4, 5).reshape(b, c, t * self.factor, h, w)
        return x[:, :, 1:]
