"""Down, mid and up blocks of the ModelScope UNet3D: each layer is resnet -> temporal conv [-> spatial transformer
-> temporal transformer] (the mid block starts with a lone resnet + temporal conv)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import nn

from .layers import Downsample, ResnetBlock, TemporalConv, Upsample
from .transformers import SpatialTransformer, TemporalTransformer


@dataclass(frozen=True)
class BlockSpec:
    """What every layer of a block needs besides its widths."""

    temb_channels: int
    groups: int
    eps: float
    head_dim: int
    context_dim: int
    apm: bool
    temporal_groups: int = 32  # the temporal convs hard-code GroupNorm(32, ...) upstream


class _LayerStack(nn.Module):
    """resnets / temp_convs [/ attentions / temp_attentions] with the official module names."""

    def _build(self, widths: Sequence[tuple[int, int]], spec: BlockSpec, cross_attention: bool) -> None:
        self.resnets = nn.ModuleList(ResnetBlock(i, o, spec.temb_channels, spec.groups, spec.eps) for i, o in widths)
        self.temp_convs = nn.ModuleList(TemporalConv(o, spec.temporal_groups) for _, o in widths)
        self.has_cross_attention = cross_attention
        if cross_attention:
            self.attentions = nn.ModuleList(_spatial(o, spec) for _, o in widths)
            self.temp_attentions = nn.ModuleList(_temporal(o, spec) for _, o in widths)

    def _layer(self, i: int, h: torch.Tensor, temb: torch.Tensor, context: Optional[torch.Tensor], frames: int) -> torch.Tensor:
        h = self.resnets[i](h, temb)
        if frames > 1:
            h = self.temp_convs[i](h, frames)
        if self.has_cross_attention:
            h = self.attentions[i](h, context)
            if frames > 1:
                h = self.temp_attentions[i](h, frames)
        return h


def _spatial(channels: int, spec: BlockSpec) -> SpatialTransformer:
    return SpatialTransformer(channels, channels // spec.head_dim, spec.head_dim, spec.context_dim, spec.groups, spec.apm)


def _temporal(channels: int, spec: BlockSpec) -> TemporalTransformer:
    return TemporalTransformer(channels, channels // spec.head_dim, spec.head_dim, spec.groups)


class DownBlock3D(_LayerStack):
    """`CrossAttnDownBlock3D` (cross_attention=True) or `DownBlock3D`; returns every layer output as a skip."""

    def __init__(self, in_channels: int, out_channels: int, layers: int, spec: BlockSpec, cross_attention: bool, downsample: bool) -> None:
        super().__init__()
        self._build([(in_channels if i == 0 else out_channels, out_channels) for i in range(layers)], spec, cross_attention)
        self.downsamplers = nn.ModuleList([Downsample(out_channels)]) if downsample else None

    def forward(self, h: torch.Tensor, temb: torch.Tensor, context: Optional[torch.Tensor], frames: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for i in range(len(self.resnets)):
            h = self._layer(i, h, temb, context, frames)
            skips.append(h)
        if self.downsamplers is not None:
            h = self.downsamplers[0](h)
            skips.append(h)
        return h, skips


class MidBlock3D(_LayerStack):
    """`UNetMidBlock3DCrossAttn`: resnet + temporal conv, then one full layer."""

    def __init__(self, channels: int, spec: BlockSpec) -> None:
        super().__init__()
        self._build([(channels, channels)] * 2, spec, cross_attention=False)
        # Two resnets/temporal convs but only one spatial + temporal transformer, between them.
        self.attentions = nn.ModuleList([_spatial(channels, spec)])
        self.temp_attentions = nn.ModuleList([_temporal(channels, spec)])

    def forward(self, h: torch.Tensor, temb: torch.Tensor, context: torch.Tensor, frames: int) -> torch.Tensor:
        h = self.resnets[0](h, temb)
        if frames > 1:
            h = self.temp_convs[0](h, frames)
        h = self.attentions[0](h, context)
        if frames > 1:
            h = self.temp_attentions[0](h, frames)
        h = self.resnets[1](h, temb)
        return self.temp_convs[1](h, frames) if frames > 1 else h


class UpBlock3D(_LayerStack):
    """`CrossAttnUpBlock3D` or `UpBlock3D`: each layer first concatenates the matching skip along channels."""

    def __init__(
        self, in_channels: int, prev_channels: int, out_channels: int, layers: int, spec: BlockSpec, cross_attention: bool, upsample: bool
    ) -> None:
        super().__init__()
        widths = []
        for i in range(layers):
            skip = in_channels if i == layers - 1 else out_channels
            widths.append(((prev_channels if i == 0 else out_channels) + skip, out_channels))
        self._build(widths, spec, cross_attention)
        self.upsamplers = nn.ModuleList([Upsample(out_channels)]) if upsample else None

    def forward(
        self,
        h: torch.Tensor,
        skips: list[torch.Tensor],
        temb: torch.Tensor,
        context: Optional[torch.Tensor],
        frames: int,
        upsample_size: Optional[tuple[int, int]] = None,
    ) -> torch.Tensor:
        for i in range(len(self.resnets)):
            h = self._layer(i, torch.cat([h, skips.pop()], dim=1), temb, context, frames)
        if self.upsamplers is not None:
            h = self.upsamplers[0](h, upsample_size)
        return h
