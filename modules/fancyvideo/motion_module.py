"""The AnimateDiff-v2-layout temporal transformer that FancyVideo inserts after each (resnet, attention) pair.

Per module: GroupNorm (eps 1e-6) -> Linear proj_in -> per pixel, along frames: two temporal self-attentions, each
x = attn(LayerNorm(x) + PE) + x with the sinusoidal PE added inside the attention to the normed input -> GEGLU
feed-forward x = FF(LayerNorm(x)) + x -> Linear proj_out -> residual add. State-dict names are the official ones
(`temporal_transformer.norm`, `.proj_in`, `.transformer_blocks.0.attention_blocks.{0,1}.{to_q,to_k,to_v,to_out.0}`,
`.pos_encoder.pe`, `.norms.{0,1}`, `.ff.net.0.proj`, `.ff.net.2`, `.ff_norm`, `.proj_out`).

Frames ride in the batch: the input is [B*F, C, H, W] with the F frames of each video contiguous, as ComfyUI batches
latents. `ops` takes ComfyUI's operation classes (casting, low-VRAM offload) or defaults to torch.nn.
"""
from __future__ import annotations

import logging
import math
from types import ModuleType
from typing import Any, Callable, Optional

import torch
from torch import nn
from torch.nn import functional as F

logger = logging.getLogger("FrameLoom.fancyvideo")

DEFAULT_HEADS = 8
DEFAULT_NORM_GROUPS = 32  # hard-coded in the official VanillaTemporalModule, whatever the UNet's own group count
DEFAULT_MAX_LEN = 32


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """[1, length, dim]: sin at even channels, cos at odd ones (the `pos_encoder.pe` buffer of the checkpoints)."""
    position = torch.arange(length).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    pe = torch.zeros(1, length, dim)
    pe[0, :, 0::2] = torch.sin(position * div_term)
    pe[0, :, 1::2] = torch.cos(position * div_term)
    return pe


class PositionalEncoding(nn.Module):
    def __init__(self, dim: int, max_len: int = DEFAULT_MAX_LEN, device: Any = None) -> None:
        super().__init__()
        # Kept in float32 whatever the weight dtype; checkpoints store it and overwrite these values.
        self.register_buffer("pe", sinusoidal_positions(max_len, dim).to(device))

    @property
    def max_len(self) -> int:
        return self.pe.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.shape[1]
        if frames > self.max_len:
            raise ValueError(
                f"the temporal position encoding covers {self.max_len} latent frames, got {frames}; "
                "sample longer videos in context windows (e.g. FreeNoise) of at most that many frames"
            )
        # The buffer may sit on another device or dtype when ComfyUI offloads in low-VRAM mode.
        return x + self.pe[:, :frames].to(device=x.device, dtype=x.dtype)


class TemporalSelfAttention(nn.Module):
    """Multi-head self-attention over the frame axis of [N, F, C] sequences (no q/k/v bias, exact softmax)."""

    def __init__(self, dim: int, heads: int, max_len: int, ops: ModuleType | Any = nn, **factory: Any) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"channels ({dim}) must be divisible by the number of heads ({heads})")
        self.heads = heads
        self.to_q = ops.Linear(dim, dim, bias=False, **factory)
        self.to_k = ops.Linear(dim, dim, bias=False, **factory)
        self.to_v = ops.Linear(dim, dim, bias=False, **factory)
        self.to_out = nn.ModuleList([ops.Linear(dim, dim, **factory)])
        self.pos_encoder = PositionalEncoding(dim, max_len, device=factory.get("device"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pos_encoder(x)
        n, frames, channels = x.shape

        def split_heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(n, frames, self.heads, channels // self.heads).transpose(1, 2)

        q, k, v = (split_heads(proj(x)) for proj in (self.to_q, self.to_k, self.to_v))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out[0](out.transpose(1, 2).reshape(n, frames, channels))


class GEGLU(nn.Module):
    def __init__(self, dim: int, inner: int, ops: ModuleType | Any = nn, **factory: Any) -> None:
        super().__init__()
        self.proj = ops.Linear(dim, inner * 2, **factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, gate = self.proj(x).chunk(2, dim=-1)
        return hidden * F.gelu(gate)


class FeedForward(nn.Module):
    """GEGLU x4; `net.1` is the (inference no-op) dropout, so the weights sit at `net.0.proj` and `net.2`."""

    def __init__(self, dim: int, mult: int = 4, ops: ModuleType | Any = nn, **factory: Any) -> None:
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * mult, ops, **factory), nn.Identity(), ops.Linear(dim * mult, dim, **factory)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = layer(x)
        return x


class TemporalTransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, max_len: int, ops: ModuleType | Any = nn, **factory: Any) -> None:
        super().__init__()
        self.attention_blocks = nn.ModuleList([TemporalSelfAttention(dim, heads, max_len, ops, **factory) for _ in range(2)])
        self.norms = nn.ModuleList([ops.LayerNorm(dim, **factory) for _ in range(2)])
        self.ff = FeedForward(dim, ops=ops, **factory)
        self.ff_norm = ops.LayerNorm(dim, **factory)

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """The attention stack alone on [N, F, C]: what a window-fusion wrapper runs per frame window."""
        for attention, norm in zip(self.attention_blocks, self.norms):
            x = attention(norm(x)) + x
        return x

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff(self.ff_norm(x)) + x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feed_forward(self.attend(x))


AttendFn = Callable[[TemporalTransformerBlock, torch.Tensor], torch.Tensor]
"""Replaces `block.attend(x)` for x [N, F, C]; must return the same shape (e.g. FreeNoise window fusion)."""


class TemporalTransformer(nn.Module):
    def __init__(
        self,
        channels: int,
        heads: int = DEFAULT_HEADS,
        norm_groups: int = DEFAULT_NORM_GROUPS,
        max_len: int = DEFAULT_MAX_LEN,
        ops: ModuleType | Any = nn,
        **factory: Any,
    ) -> None:
        super().__init__()
        self.norm = ops.GroupNorm(norm_groups, channels, eps=1e-6, affine=True, **factory)
        self.proj_in = ops.Linear(channels, channels, **factory)
        self.transformer_blocks = nn.ModuleList([TemporalTransformerBlock(channels, heads, max_len, ops, **factory)])
        self.proj_out = ops.Linear(channels, channels, **factory)

    def forward(self, x: torch.Tensor, num_frames: int, attend: Optional[AttendFn] = None) -> torch.Tensor:
        batch_frames, channels, height, width = x.shape
        if num_frames < 1 or batch_frames % num_frames:
            raise ValueError(f"a batch of {batch_frames} frames cannot be split into videos of {num_frames} frames")
        videos, pixels = batch_frames // num_frames, height * width
        h = self.norm(x).permute(0, 2, 3, 1).reshape(batch_frames, pixels, channels)
        h = self.proj_in(h)
        # (b f) (h w) c -> (b h w) f c: one sequence over the frames per pixel. LayerNorm, the feed-forward and the
        # projections act per token, so the whole block can stay in this layout.
        h = h.view(videos, num_frames, pixels, channels).transpose(1, 2).reshape(videos * pixels, num_frames, channels)
        for block in self.transformer_blocks:
            h = attend(block, h) if attend is not None else block.attend(h)
            h = block.feed_forward(h)
        h = self.proj_out(h)
        h = h.view(videos, pixels, num_frames, channels).transpose(1, 2).reshape(batch_frames, height, width, channels)
        return h.permute(0, 3, 1, 2) + x


class MotionModule(nn.Module):
    """One `motion_modules.N` entry: x [B*F, C, H, W] -> same shape."""

    def __init__(self, channels: int, **kwargs: Any) -> None:
        super().__init__()
        self.temporal_transformer = TemporalTransformer(channels, **kwargs)

    @property
    def channels(self) -> int:
        return self.temporal_transformer.proj_in.in_features

    def forward(self, x: torch.Tensor, num_frames: int, attend: Optional[AttendFn] = None) -> torch.Tensor:
        return self.temporal_transformer(x, num_frames, attend)


def motion_module_shapes(channels: int, max_len: int = DEFAULT_MAX_LEN, mult: int = 4) -> dict[str, tuple[int, ...]]:
    """Every state-dict name (relative to the module) and shape of one motion module, `pos_encoder.pe` included."""
    c = channels
    prefix = "temporal_transformer."
    shapes: dict[str, tuple[int, ...]] = {
        "norm.weight": (c,), "norm.bias": (c,),
        "proj_in.weight": (c, c), "proj_in.bias": (c,),
        "proj_out.weight": (c, c), "proj_out.bias": (c,),
    }
    block = "transformer_blocks.0."
    for i in range(2):
        attn = f"{block}attention_blocks.{i}."
        shapes.update({
            f"{attn}to_q.weight": (c, c), f"{attn}to_k.weight": (c, c), f"{attn}to_v.weight": (c, c),
            f"{attn}to_out.0.weight": (c, c), f"{attn}to_out.0.bias": (c,),
            f"{attn}pos_encoder.pe": (1, max_len, c),
            f"{block}norms.{i}.weight": (c,), f"{block}norms.{i}.bias": (c,),
        })
    shapes.update({
        f"{block}ff.net.0.proj.weight": (2 * mult * c, c), f"{block}ff.net.0.proj.bias": (2 * mult * c,),
        f"{block}ff.net.2.weight": (c, mult * c), f"{block}ff.net.2.bias": (c,),
        f"{block}ff_norm.weight": (c,), f"{block}ff_norm.bias": (c,),
    })
    return {prefix + k: v for k, v in shapes.items()}
