"""StreamingT2V's transformer block over the shared diffusers-named attention layers (modules/common/attention.py)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..common.attention import Attention, FeedForward, GEGLU, multihead_attention

__all__ = ["Attention", "FeedForward", "GEGLU", "TransformerBlock", "multihead_attention"]


class TransformerBlock(nn.Module):
    """Pre-norm block: self-attention, then `attn2` (cross- or second self-attention), then feed-forward."""

    def __init__(self, dim: int, heads: int, dim_head: int, attn2: nn.Module) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads, dim_head)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = attn2
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x: torch.Tensor, context: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x
