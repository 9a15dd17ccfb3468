"""CAM injection: the per-pixel temporal cross-attention merger (official `ConditionalModel('cross_attention')`).

Every skip residual of the base UNet (and its mid output) attends, pixel by pixel and over time, to the CAM control
branch's feature at the same level: queries from the F video frames, keys/values from the Fc conditioning frames.
"""
from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from .attention import Attention


class TemporalCrossAttention(nn.Module):
    """`sample + proj_out(MHA(proj_in(GN(sample)), raw conditioning))`, attention along time at each pixel."""

    def __init__(self, channels: int, head_dim: int = 64, norm_groups: int = 32) -> None:
        super().__init__()
        if channels % head_dim:
            raise ValueError(f"merger width {channels} is not a multiple of the head dim {head_dim}")
        self.attention = Attention(channels, channels // head_dim, head_dim, context_dim=channels)
        self.norm = nn.GroupNorm(norm_groups, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, channels)
        self.proj_out = nn.Linear(channels, channels)

    def forward(self, sample: torch.Tensor, conditioning: torch.Tensor) -> torch.Tensor:
        b, f, c, h, w = sample.shape
        # The GroupNorm statistics span C/groups channels × all frames × all pixels, hence the [B,C,F,H,W] layout.
        normed = self.norm(sample.transpose(1, 2))
        query = self.proj_in(rearrange(normed, "b c f h w -> (b h w) f c"))
        # Keys/values come from the raw CAM feature: no norm, no projection (as the official code does).
        context = rearrange(conditioning, "b f c h w -> (b h w) f c")
        residual = self.proj_out(self.attention(query, context))
        return sample + rearrange(residual, "(b h w) f c -> b f c h w", b=b, h=h, w=w)


class CrossAttentionMerger(nn.Module):
    """State-dict wrapper holding `temporal_transformer.*`, the official names of every merger."""

    def __init__(self, channels: int, head_dim: int = 64, norm_groups: int = 32) -> None:
        super().__init__()
        self.temporal_transformer = TemporalCrossAttention(channels, head_dim, norm_groups)

    def forward(self, sample: torch.Tensor, conditioning: torch.Tensor) -> torch.Tensor:
        """sample [B,F,C,H,W] (F video frames), conditioning [B,Fc,C,H,W] (CAM frames) -> [B,F,C,H,W]."""
        if sample.ndim != 5 or conditioning.ndim != 5:
            raise ValueError(
                f"merger expects sample [B,F,C,H,W] and conditioning [B,Fc,C,H,W]; "
                f"got {list(sample.shape)} and {list(conditioning.shape)}"
            )
        s, c = sample.shape, conditioning.shape
        if s[0] != c[0] or s[2:] != c[2:]:
            raise ValueError(
                "merger sample and conditioning must agree in batch, channels and size; "
                f"got sample {list(s)} and conditioning {list(c)}"
            )
        return self.temporal_transformer(sample, conditioning)

    def forward_flat(self, sample: torch.Tensor, conditioning: torch.Tensor, batch: int) -> torch.Tensor:
        """The same on the UNet's frame-major layout: [(B F),C,H,W] and [(B Fc),C,H,W] -> [(B F),C,H,W]."""
        out = self(
            rearrange(sample, "(b f) c h w -> b f c h w", b=batch),
            rearrange(conditioning, "(b f) c h w -> b f c h w", b=batch),
        )
        return rearrange(out, "b f c h w -> (b f) c h w")
