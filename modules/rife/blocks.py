"""IFNet building blocks. Module and attribute names mirror the official state-dict keys
(blockN.conv0.{0,1}.0.*, blockN.convblock.{0..7}.{conv.*,beta}, blockN.lastconv.0.*, encode.*), so checkpoints load
without renaming."""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .config import HEAD_CNN, HEAD_NONE, HEAD_SEQUENTIAL, RifeConfig

_SLOPE = 0.2


def conv_act(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    """3x3 conv + LeakyReLU(0.2); the Sequential gives the '.0.weight' key level."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride, 1), nn.LeakyReLU(_SLOPE))


class ResConv(nn.Module):
    """LeakyReLU(conv(x) * beta + x) with a learnable per-channel scale."""

    def __init__(self, channels: int, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1, groups=groups)
        self.beta = nn.Parameter(torch.ones(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x) * self.beta + x, _SLOPE)


class BlockOutput(NamedTuple):
    flow: torch.Tensor  # [N,4,H,W] flow delta in pixels of the input resolution
    mask: torch.Tensor  # [N,1,H,W] mask logit
    feat: Optional[torch.Tensor]  # [N,8,H,W] for 4.21+ versions, else None


class IFBlock(nn.Module):
    """One coarse-to-fine level: runs at 1/scale of the input resolution (then 1/4 inside conv0)."""

    def __init__(self, in_ch: int, width: int, lastconv_channels: int, groups: int = 1) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(conv_act(in_ch, width // 2, 2), conv_act(width // 2, width, 2))
        self.convblock = nn.Sequential(*(ResConv(width, groups) for _ in range(8)))
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(width, lastconv_channels, 4, 2, 1), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor, flow: Optional[torch.Tensor], scale: float) -> BlockOutput:
        x = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
        if flow is not None:
            # Flow is in pixels, so it shrinks with the image.
            flow = F.interpolate(flow, scale_factor=1.0 / scale, mode="bilinear", align_corners=False) / scale
            x = torch.cat((x, flow), 1)
        out = self.lastconv(self.convblock(self.conv0(x)))
        out = F.interpolate(out, scale_factor=scale, mode="bilinear", align_corners=False)
        feat = out[:, 5:] if out.shape[1] > 6 else None
        return BlockOutput(out[:, :4] * scale, out[:, 4:5], feat)


class Head(nn.Module):
    """Feature head of 4.13+: three LeakyReLU convs (the first at stride 2) and a deconv back to full size."""

    def __init__(self, hidden: int, out_ch: int) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, hidden, 3, 2, 1)
        self.cnn1 = nn.Conv2d(hidden, hidden, 3, 1, 1)
        self.cnn2 = nn.Conv2d(hidden, hidden, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(hidden, out_ch, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.cnn0(x), _SLOPE)
        x = F.leaky_relu(self.cnn1(x), _SLOPE)
        x = F.leaky_relu(self.cnn2(x), _SLOPE)
        return self.cnn3(x)


def build_head(config: RifeConfig) -> Optional[nn.Module]:
    """The per-frame feature encoder of a version, or None for 4.6 (which has none)."""
    if config.head == HEAD_NONE:
        return None
    if config.head == HEAD_SEQUENTIAL:
        # 4.7-4.9: conv then deconv with no activation in between (keys encode.0.*, encode.1.*).
        return nn.Sequential(
            nn.Conv2d(3, config.head_hidden, 3, 2, 1), nn.ConvTranspose2d(config.head_hidden, config.head_out, 4, 2, 1)
        )
    if config.head == HEAD_CNN:
        return Head(config.head_hidden, config.head_out)
    raise ValueError(f"unknown head kind '{config.head}' in the config of RIFE {config.version}")
