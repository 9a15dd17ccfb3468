"""The ModelScope text-to-video UNet3D (diffusers `UNet3DConditionModel` semantics and names) as used by StreamingT2V:
the base denoiser (`base_model.*`) with APM in its spatial cross-attentions and the 12 + 1 CAM mergers.

Layout: conv_in -> transformer_in (temporal) -> down blocks -> mid block -> up blocks -> GN/SiLU/conv_out, with one
skip per resnet/downsampler (plus conv_in's) concatenated back in the up path. Activations are frame-major
[(B F), C, H, W]; the text (+ image) context is repeated once per frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from .layers import TimestepEmbedding, timestep_features
from .merger import CrossAttentionMerger
from .transformers import TemporalTransformer
from .unet_blocks import BlockSpec, DownBlock3D, MidBlock3D, UpBlock3D

Timestep = Union[torch.Tensor, int, float]


@dataclass(frozen=True)
class UNet3DConfig:
    """Widths of the UNet3D; defaults are ModelScope 1.7B (`damo-vilab/text-to-video-ms-1.7b`).

    The last level is a plain (attention-free) block, as in the official `DownBlock3D`/`UpBlock3D` pair.
    `attention_head_dim` is the per-head width; a level of width C has C // attention_head_dim heads.
    """

    in_channels: int = 4
    out_channels: int = 4
    block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280)
    layers_per_block: int = 2
    norm_num_groups: int = 32
    norm_eps: float = 1e-5
    cross_attention_dim: int = 1024
    attention_head_dim: int = 64
    transformer_in_heads: int = 8
    temporal_norm_groups: int = 32  # temporal convs and transformer_in hard-code GroupNorm(32) upstream

    def block_spec(self, apm: bool) -> BlockSpec:
        return BlockSpec(
            temb_channels=4 * self.block_out_channels[0],
            groups=self.norm_num_groups,
            eps=self.norm_eps,
            head_dim=self.attention_head_dim,
            context_dim=self.cross_attention_dim,
            apm=apm,
            temporal_groups=self.temporal_norm_groups,
        )

    def skip_widths(self) -> list[int]:
        """Channel width of every skip residual, in order (conv_in's first): 12 for the official layout."""
        widths = [self.block_out_channels[0]]
        last = len(self.block_out_channels) - 1
        for i, width in enumerate(self.block_out_channels):
            widths += [width] * (self.layers_per_block + (i != last))
        return widths


def _as_timesteps(timestep: Timestep, batch: int, device: torch.device) -> torch.Tensor:
    t = torch.as_tensor(timestep, device=device)
    if t.ndim == 0:
        t = t[None]
    if t.ndim != 1 or t.shape[0] not in (1, batch):
        raise ValueError(f"timestep must be a scalar or have one value per video ({batch}); got shape {list(t.shape)}")
    return t.expand(batch)


def check_video(sample: torch.Tensor, channels: int, name: str = "sample") -> None:
    if sample.ndim != 5 or sample.shape[1] != channels:
        raise ValueError(f"{name} must be latents [B, {channels}, F, H, W]; got {list(sample.shape)}")


class UNet3DEncoder(nn.Module):
    """conv_in, time embedding, transformer_in, down blocks and mid block: shared by the base UNet and the CAM branch."""

    def __init__(self, config: UNet3DConfig, apm: bool) -> None:
        super().__init__()
        self.config = config
        c0 = config.block_out_channels[0]
        spec = config.block_spec(apm)
        self.conv_in = nn.Conv2d(config.in_channels, c0, 3, padding=1)
        self.time_embedding = TimestepEmbedding(c0, 4 * c0)
        self.transformer_in = TemporalTransformer(
            c0, config.transformer_in_heads, config.attention_head_dim, config.temporal_norm_groups
        )
        self.down_blocks = nn.ModuleList()
        last = len(config.block_out_channels) - 1
        prev = c0
        for i, width in enumerate(config.block_out_channels):
            self.down_blocks.append(
                DownBlock3D(prev, width, config.layers_per_block, spec, cross_attention=i != last, downsample=i != last)
            )
            prev = width
        self.mid_block = MidBlock3D(config.block_out_channels[-1], spec)

    def embed_time(self, timestep: Timestep, batch: int, frames: int) -> torch.Tensor:
        """Time embedding per frame, [(B F), 4·C0]."""
        t = _as_timesteps(timestep, batch, self.conv_in.weight.device)
        feats = timestep_features(t, self.config.block_out_channels[0]).to(self.conv_in.weight.dtype)
        return self.time_embedding(feats).repeat_interleave(frames, dim=0)

    def stem(self, sample: torch.Tensor) -> torch.Tensor:
        """[B, C, F, H, W] latents -> conv_in (per frame) -> [(B F), C0, H, W] (transformer_in applied by the caller)."""
        b, c, f, h, w = sample.shape
        return self.conv_in(sample.transpose(1, 2).reshape(b * f, c, h, w))

    def encode(
        self, h: torch.Tensor, temb: torch.Tensor, context: torch.Tensor, frames: int
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Down blocks then mid block; returns (mid output, skips including `h` itself)."""
        skips = [h]
        for block in self.down_blocks:
            h, block_skips = block(h, temb, context if block.has_cross_attention else None, frames)
            skips += block_skips
        return self.mid_block(h, temb, context, frames), skips


class BaseUNet3D(UNet3DEncoder):
    """`base_model`: the full denoiser; APM in every spatial `attn2`; CAM mergers on the skips and the mid output."""

    def __init__(self, config: UNet3DConfig, merger_head_dim: int = 64, merger_norm_groups: int = 32, apm: bool = True) -> None:
        super().__init__(config, apm=apm)
        spec = config.block_spec(apm)
        rev = list(reversed(config.block_out_channels))
        self.up_blocks = nn.ModuleList()
        prev = rev[0]
        for i, width in enumerate(rev):
            is_last = i == len(rev) - 1
            skip_in = rev[min(i + 1, len(rev) - 1)]
            self.up_blocks.append(
                UpBlock3D(skip_in, prev, width, config.layers_per_block + 1, spec, cross_attention=i != 0, upsample=not is_last)
            )
            prev = width
        c0 = config.block_out_channels[0]
        self.conv_norm_out = nn.GroupNorm(config.norm_num_groups, c0, eps=config.norm_eps)
        self.conv_out = nn.Conv2d(c0, config.out_channels, 3, padding=1)
        self.cross_attention_merger_down_blocks = nn.ModuleList(
            CrossAttentionMerger(w, merger_head_dim, merger_norm_groups) for w in config.skip_widths()
        )
        self.cross_attention_merger_mid_block = CrossAttentionMerger(
            config.block_out_channels[-1], merger_head_dim, merger_norm_groups
        )

    def forward(
        self,
        sample: torch.Tensor,
        timestep: Timestep,
        context: torch.Tensor,
        down_residuals: Optional[Sequence[torch.Tensor]] = None,
        mid_residual: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """sample [B, C, F, H, W], context [B, T, D] (77 text + 16 image tokens with APM) -> noise [B, C, F, H, W].

        `down_residuals` / `mid_residual` are the CAM branch's features, frame-major [(B Fc), C, h, w]; without them
        the mergers are skipped (the official `skip_controlnet_branch` path).
        """
        check_video(sample, self.config.in_channels)
        b, _, f, height, width = sample.shape
        if context.ndim != 3 or context.shape[0] != b:
            raise ValueError(f"context must be [B={b}, tokens, dim]; got {list(context.shape)}")
        temb = self.embed_time(timestep, b, f)
        frame_context = context.repeat_interleave(f, dim=0)
        h = self.stem(sample)
        if f > 1:
            h = self.transformer_in(h, f)
        h, skips = self.encode(h, temb, frame_context, f)
        if down_residuals is not None:
            if len(down_residuals) != len(skips):
                raise ValueError(f"expected {len(skips)} CAM down residuals, got {len(down_residuals)}")
            skips = [m.forward_flat(s, r, b) for m, s, r in zip(self.cross_attention_merger_down_blocks, skips, down_residuals)]
        if mid_residual is not None:
            h = self.cross_attention_merger_mid_block.forward_flat(h, mid_residual, b)
        # Nearest ×2 cannot restore odd sizes: then each upsampler targets the size of the skip it meets next.
        factor = 2 ** (len(self.up_blocks) - 1)
        forward_size = height % factor != 0 or width % factor != 0
        for block in self.up_blocks:
            take = len(block.resnets)
            block_skips, skips = skips[-take:], skips[:-take]
            size = tuple(skips[-1].shape[-2:]) if forward_size and block.upsamplers is not None else None
            h = block(h, block_skips, temb, frame_context if block.has_cross_attention else None, f, size)
        h = self.conv_out(F.silu(self.conv_norm_out(h)))
        return h.view(b, f, *h.shape[1:]).transpose(1, 2)
