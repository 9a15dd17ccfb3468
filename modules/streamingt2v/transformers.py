"""Spatial and temporal transformers of the ModelScope UNet3D (diffusers `Transformer2DModel` with linear projections,
and `TransformerTemporalModel`), on frame-major activations [(B F), C, H, W]."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .apm import APMCrossAttention
from .attention import Attention, TransformerBlock


class SpatialTransformer(nn.Module):
    """Attention over the H·W pixels of each frame; `attn2` attends to the text (or APM-mixed text+image) context."""

    def __init__(self, channels: int, heads: int, dim_head: int, context_dim: int, groups: int, apm: bool) -> None:
        super().__init__()
        inner = heads * dim_head
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, inner)
        attn2 = (APMCrossAttention if apm else Attention)(inner, heads, dim_head, context_dim=context_dim)
        self.transformer_blocks = nn.ModuleList([TransformerBlock(inner, heads, dim_head, attn2)])
        self.proj_out = nn.Linear(inner, channels)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """x [(B F), C, H, W], context [(B F), T, D] (one copy per frame)."""
        bf, c, h, w = x.shape
        tokens = self.proj_in(self.norm(x).permute(0, 2, 3, 1).reshape(bf, h * w, c))
        for block in self.transformer_blocks:
            tokens = block(tokens, context)
        out = self.proj_out(tokens).reshape(bf, h, w, c).permute(0, 3, 1, 2)
        return out + x


class TemporalTransformer(nn.Module):
    """Attention over the F frames at each pixel; both attn1 and attn2 are self-attention (double self-attention)."""

    def __init__(self, channels: int, heads: int, dim_head: int, groups: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, inner)
        self.transformer_blocks = nn.ModuleList([TransformerBlock(inner, heads, dim_head, Attention(inner, heads, dim_head))])
        self.proj_out = nn.Linear(inner, channels)

    def forward(self, x: torch.Tensor, num_frames: int, context: Optional[torch.Tensor] = None) -> torch.Tensor:
        bf, c, h, w = x.shape
        b = bf // num_frames
        # GroupNorm statistics span all frames of a video: normalise in [B, C, F, H, W].
        video = x.view(b, num_frames, c, h, w).transpose(1, 2)
        tokens = self.norm(video).permute(0, 3, 4, 2, 1).reshape(b * h * w, num_frames, c)
        tokens = self.proj_in(tokens)
        for block in self.transformer_blocks:
            tokens = block(tokens, context)
        out = self.proj_out(tokens).view(b, h, w, num_frames, c).permute(0, 3, 4, 1, 2).reshape(bf, c, h, w)
        return out + x
