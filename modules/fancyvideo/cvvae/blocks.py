"""Res-block and mid-block attentions of the CV-VAE (names as in the official modules: norm1/conv1/..., q/k/v/...)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import CausalConv3d, FrameConv2d


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, channels, eps=1e-5, affine=True)


class ResnetBlock3D(nn.Module):
    """`half_3d` res-block: 3-D conv1 (causal in the encoder), per-frame 2-D conv2, 1x1x1 shortcut on width change.

    The GroupNorms see the whole [B,C,T,H,W] tensor, so their statistics pool over every frame of the current chunk.
    """

    def __init__(self, in_channels: int, out_channels: int, causal: bool) -> None:
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = CausalConv3d(in_channels, out_channels, 3) if causal else nn.Conv3d(
            in_channels, out_channels, 3, padding=1)
        self.norm2 = group_norm(out_channels)
        self.conv2 = FrameConv2d(out_channels)
        if in_channels != out_channels:
            self.nin_shortcut = CausalConv3d(in_channels, out_channels, 1) if causal else nn.Conv3d(
                in_channels, out_channels, 1)
        else:
            self.nin_shortcut = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        if self.nin_shortcut is not None:
            x = self.nin_shortcut(x)
        return x + h


class SpatialAttention(nn.Module):
    """Single-head self-attention over the H·W positions of each frame (GroupNorm statistics per frame)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def spatial(self, x: torch.Tensor) -> torch.Tensor:
        """proj_out(Attn(norm(x))) per frame, without residual; [B,C,T,H,W] in and out."""
        b, c, t, hh, ww = x.shape
        frames = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, hh, ww)
        h = self.norm(frames)
        q, k, v = (conv(h).flatten(2).transpose(1, 2) for conv in (self.q, self.k, self.v))  # [(B·T), HW, C]
        h = F.scaled_dot_product_attention(q, k, v)
        h = self.proj_out(h.transpose(1, 2).reshape(b * t, c, hh, ww))
        return h.reshape(b, t, c, hh, ww).permute(0, 2, 1, 3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.spatial(x)


class SpatioTemporalAttention(SpatialAttention):
    """Decoder mid attention: spatial attention per frame, then per pixel a LayerNorm + single-head attention over
    the T frames of the chunk (no mask, no positional encoding); one residual around both."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.q_t = nn.Linear(channels, channels)
        self.k_t = nn.Linear(channels, channels)
        self.v_t = nn.Linear(channels, channels)
        self.proj_out_t = nn.Linear(channels, channels)
        self.norm_t = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, hh, ww = x.shape
        s = self.spatial(x).permute(0, 3, 4, 2, 1).reshape(b * hh * ww, t, c)
        u = self.norm_t(s)
        s = self.proj_out_t(F.scaled_dot_product_attention(self.q_t(u), self.k_t(u), self.v_t(u)))
        return x + s.reshape(b, hh, ww, t, c).permute(0, 4, 3, 1, 2)
