"""A reference AnimateDiff-style motion transformer block with FreeNoise window fusion.

It mirrors the motion-block semantics that FreeNoise fuses (diffusers' FreeNoiseTransformerBlock with
double self-attention, sinusoidal PE and a GEGLU feed-forward; the AnimateDiff port does the same):

    per window:  x = attn1(norm1(x) + pe) + x;  x = attn2(norm2(x) + pe) + x     (pe restarts at 0)
    fused:       h = sum(w * x_window) / sum(w)
    after:       out = ff(norm3(h)) + h                                          (on all frames)

State-dict names follow diffusers' BasicTransformerBlock, so its weights load unchanged. Input layout is
[batch * height * width, frames, channels]. Real motion modules reuse `attention_stack` / `fuse_windows`
the same way; this block is the executable specification the tests check against the reference vector.
"""
from __future__ import annotations

import math
from typing import Mapping

import torch
from torch import nn

from ..common import CheckpointError, compare_layout
from ..common.attention import Attention, FeedForward
from .fusion import fuse_windows
from .windows import validate_context


def sinusoidal_table(length: int, dim: int) -> torch.Tensor:
    """[1, length, dim] table: sin on even channels, cos on odd ones, frequencies 10000^(-2i/dim)."""
    if dim % 2:
        raise ValueError(f"a sinusoidal table needs an even channel count, got {dim}")
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(1, length, dim)
    table[0, :, 0::2] = torch.sin(position * frequency)
    table[0, :, 1::2] = torch.cos(position * frequency)
    return table


class SinusoidalPositions(nn.Module):
    """Adds the first L rows of a stored table to a [N, L, C] sequence (the table is part of the state dict)."""

    def __init__(self, dim: int, max_len: int) -> None:
        super().__init__()
        self.register_buffer("pe", sinusoidal_table(max_len, dim))

    @property
    def max_len(self) -> int:
        return self.pe.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pe[:, : x.shape[1]].to(x.dtype)


class FreeNoiseReferenceBlock(nn.Module):
    """Motion transformer block: attention stack fused over context windows, feed-forward after fusion."""

    def __init__(self, dim: int = 64, heads: int = 8, pe_max_len: int = 32, ff_mult: int = 4, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn1 = Attention(dim, heads, dim // heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.attn2 = Attention(dim, heads, dim // heads)
        self.norm3 = nn.LayerNorm(dim, eps=eps)
        self.ff = FeedForward(dim, ff_mult)
        self.pos_embed = SinusoidalPositions(dim, pe_max_len)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor], heads: int = 8) -> "FreeNoiseReferenceBlock":
        """Build a block sized from `state` (dim, PE length, FF width) and load it; bad layouts raise CheckpointError."""
        for key in ("norm1.weight", "pos_embed.pe", "ff.net.2.weight"):
            if key not in state:
                raise CheckpointError(f"not a motion transformer block state dict: '{key}' is missing")
        dim = state["norm1.weight"].shape[0]
        pe_len = state["pos_embed.pe"].shape[1]
        ff_mult = max(1, state["ff.net.2.weight"].shape[1] // dim)
        block = cls(dim=dim, heads=heads, pe_max_len=pe_len, ff_mult=ff_mult)
        expected = {k: tuple(v.shape) for k, v in block.state_dict().items()}
        report = compare_layout(state, expected)
        if not report.ok:
            raise CheckpointError(f"motion block weights do not match a dim-{dim} block: {report.format()}")
        block.load_state_dict(dict(state))
        return block

    def attention_stack(self, x: torch.Tensor) -> torch.Tensor:
        """The part FreeNoise runs per window: both self-attentions with residuals, PE added before each."""
        if x.shape[1] > self.pos_embed.max_len:
            raise ValueError(
                f"{x.shape[1]} frames in one attention pass exceed the positional table of {self.pos_embed.max_len}; "
                "use window fusion with a shorter context_length"
            )
        x = self.attn1(self.pos_embed(self.norm1(x))) + x
        return self.attn2(self.pos_embed(self.norm2(x))) + x

    def feed_forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.ff(self.norm3(h)) + h

    def plain_full_attention(self, x: torch.Tensor) -> torch.Tensor:
        """No windowing: one pass over all frames, PE positions 0..F-1."""
        return self.feed_forward(self.attention_stack(x))

    def forward(
        self,
        x: torch.Tensor,
        *,
        context_length: int | None = 16,
        stride: int = 4,
        weighting: str = "pyramid",
        tail_rule: str = "normalized",
    ) -> torch.Tensor:
        """x: [N, F, C]. context_length=None means plain full attention; see fuse_windows for `tail_rule`."""
        if x.dim() != 3:
            raise ValueError(f"expected hidden states [batch*height*width, frames, channels], got shape {tuple(x.shape)}")
        if context_length is None:
            return self.plain_full_attention(x)
        validate_context(context_length, self.pos_embed.max_len)
        fused = fuse_windows(
            self.attention_stack,
            x,
            context_length=context_length,
            stride=stride,
            weighting=weighting,
            frame_dim=1,
            tail_rule=tail_rule,
        )
        return self.feed_forward(fused)
