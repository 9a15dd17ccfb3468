"""RAFT-large's feature and context encoders (Teed & Deng 2020, Sec. 3.1): a 1/8-resolution residual CNN.

Both encoders share one structure: a 7×7 stride-2 stem, three stages of two residual blocks (64, 96, 128
channels; stages 2 and 3 halve the resolution), and a 1×1 output convolution to 256 channels. The feature encoder
normalises with parameter-free instance norm; the context encoder with batch norm (frozen statistics in use).
Every convolution has a bias, as in the official weights.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

STAGE_WIDTHS = (64, 96, 128)
STEM_WIDTH = 64
OUT_WIDTH = 256


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels)  # affine=False, no running stats: no tensors in the checkpoint
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    raise ValueError(f"unknown norm '{kind}'; expected 'instance' or 'batch'")


class Projection(nn.Module):
    """The 1×1 strided shortcut of a block that changes resolution."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, norm: str) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1, stride=stride)
        self.norm = _norm(norm, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1)
        self.norm1 = _norm(norm, out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.norm2 = _norm(norm, out_ch)
        self.proj = Projection(in_ch, out_ch, stride, norm) if stride != 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        y = F.relu(self.norm2(self.conv2(y)))
        shortcut = self.proj(x) if self.proj is not None else x
        return F.relu(shortcut + y)


class Stem(nn.Module):
    def __init__(self, norm: str) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, STEM_WIDTH, 7, stride=2, padding=3)
        self.norm = _norm(norm, STEM_WIDTH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class Encoder(nn.Module):
    """(B, 3, H, W) in [-1, 1] -> (B, 256, H/8, W/8)."""

    def __init__(self, norm: str) -> None:
        super().__init__()
        self.stem = Stem(norm)
        # Named stage1..3 like the official layer1..3, so checkpoint names map by a plain rename.
        self.stage1 = self._stage(STEM_WIDTH, STAGE_WIDTHS[0], 1, norm)
        self.stage2 = self._stage(STAGE_WIDTHS[0], STAGE_WIDTHS[1], 2, norm)
        self.stage3 = self._stage(STAGE_WIDTHS[1], STAGE_WIDTHS[2], 2, norm)
        self.out = nn.Conv2d(STAGE_WIDTHS[2], OUT_WIDTH, 1)

    @staticmethod
    def _stage(in_ch: int, width: int, stride: int, norm: str) -> nn.Sequential:
        return nn.Sequential(ResBlock(in_ch, width, stride, norm), ResBlock(width, width, 1, norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.out(x)
