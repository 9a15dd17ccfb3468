"""Attention and feed-forward layers with diffusers' parameter names (to_q/to_k/to_v/to_out.0, ff.net.0.proj/ff.net.2),
shared by every model family whose official checkpoints use that naming.

Official code often runs these through xformers; its memory-efficient attention is exact softmax attention, so PyTorch's
scaled_dot_product_attention is an equivalent kernel.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


def multihead_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """Softmax attention of [N, Lq, heads*d] queries over [N, Lk, heads*d] keys/values, scale d**-0.5."""
    n, lq, inner = q.shape
    d = inner // heads
    q = q.view(n, lq, heads, d).transpose(1, 2)
    k = k.view(n, k.shape[1], heads, d).transpose(1, 2)
    v = v.view(n, v.shape[1], heads, d).transpose(1, 2)
    out = F.scaled_dot_product_attention(q, k, v)
    return out.transpose(1, 2).reshape(n, lq, inner)


class Attention(nn.Module):
    """Multi-head attention; self-attention when no context is given."""

    def __init__(self, query_dim: int, heads: int, dim_head: int, context_dim: Optional[int] = None) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim or query_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim or query_dim, inner, bias=False)
        # A ModuleList keeps the official name "to_out.0" (diffusers puts a Dropout at index 1).
        self.to_out = nn.ModuleList([nn.Linear(inner, query_dim)])

    def forward(self, x: torch.Tensor, context: Optional[torch.Tensor] = None) -> torch.Tensor:
        kv = x if context is None else context
        out = multihead_attention(self.to_q(x), self.to_k(kv), self.to_v(kv), self.heads)
        return self.to_out[0](out)


class GEGLU(nn.Module):
    """Gated GELU projection: one Linear to 2×inner, the second half gates the first."""

    def __init__(self, dim: int, inner: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    """GEGLU feed-forward, inner width 4×dim; index 1 is the (parameter-free) dropout slot of the official layout."""

    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = layer(x)
        return x
