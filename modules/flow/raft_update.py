"""RAFT-large's update operator (Sec. 3.3): motion encoder, separable ConvGRU, flow head, and the convex-upsampling
mask head. Widths are those of the official RAFT-large weights (hidden 128, context 128)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

HIDDEN = 128
CONTEXT = 128
UPSAMPLE = 8
# The official code scales the mask logits by 0.25 (to damp that branch's gradients in training); the trained
# weights expect it.
MASK_SCALE = 0.25


class MotionEncoder(nn.Module):
    """Correlation features and the current flow -> 128 motion features (the last 2 are the flow itself)."""

    def __init__(self, corr_channels: int) -> None:
        super().__init__()
        self.corr1 = nn.Conv2d(corr_channels, 256, 1)
        self.corr2 = nn.Conv2d(256, 192, 3, padding=1)
        self.flow1 = nn.Conv2d(2, 128, 7, padding=3)
        self.flow2 = nn.Conv2d(128, 64, 3, padding=1)
        self.fuse = nn.Conv2d(192 + 64, HIDDEN - 2, 3, padding=1)

    def forward(self, flow: torch.Tensor, corr: torch.Tensor) -> torch.Tensor:
        c = F.relu(self.corr2(F.relu(self.corr1(corr))))
        f = F.relu(self.flow2(F.relu(self.flow1(flow))))
        return torch.cat([F.relu(self.fuse(torch.cat([c, f], dim=1))), flow], dim=1)


class GRUGates(nn.Module):
    """One ConvGRU step with a given kernel: update gate z, reset gate r, candidate q."""

    def __init__(self, channels: int, kernel: tuple[int, int]) -> None:
        super().__init__()
        padding = (kernel[0] // 2, kernel[1] // 2)
        self.z = nn.Conv2d(HIDDEN + channels, HIDDEN, kernel, padding=padding)
        self.r = nn.Conv2d(HIDDEN + channels, HIDDEN, kernel, padding=padding)
        self.q = nn.Conv2d(HIDDEN + channels, HIDDEN, kernel, padding=padding)

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        hx = torch.cat([h, x], dim=1)
        z = torch.sigmoid(self.z(hx))
        r = torch.sigmoid(self.r(hx))
        q = torch.tanh(self.q(torch.cat([r * h, x], dim=1)))
        return (1 - z) * h + z * q


class SepConvGRU(nn.Module):
    """A 1×5 (horizontal) then a 5×1 (vertical) GRU step: a 5×5 receptive field at lower cost."""

    def __init__(self, input_channels: int) -> None:
        super().__init__()
        self.horizontal = GRUGates(input_channels, (1, 5))
        self.vertical = GRUGates(input_channels, (5, 1))

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.vertical(self.horizontal(h, x), x)


class FlowHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(HIDDEN, 256, 3, padding=1)
        self.conv2 = nn.Conv2d(256, 2, 3, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(h)))


class MaskHead(nn.Module):
    """Per 1/8 pixel, softmax logits over its 3×3 neighbours for each of the 8×8 full-resolution pixels it covers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(HIDDEN, 256, 3, padding=1)
        self.conv2 = nn.Conv2d(256, UPSAMPLE * UPSAMPLE * 9, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return MASK_SCALE * self.conv2(F.relu(self.conv1(h)))


def convex_upsample(flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, 2, h, w) flow at 1/8 -> (B, 2, 8h, 8w): each fine pixel is a convex combination of its coarse 3×3
    neighbourhood (weights = softmax of the mask), with flow values scaled to full-resolution pixels."""
    b, _, h, w = flow.shape
    weights = torch.softmax(mask.view(b, 1, 9, UPSAMPLE, UPSAMPLE, h, w), dim=2)
    neighbours = F.unfold(UPSAMPLE * flow, kernel_size=3, padding=1).view(b, 2, 9, 1, 1, h, w)
    fine = (weights * neighbours).sum(dim=2)  # (b, 2, 8, 8, h, w): sub-row, sub-column, coarse row, coarse column
    return fine.permute(0, 1, 4, 2, 5, 3).reshape(b, 2, UPSAMPLE * h, UPSAMPLE * w)
