"""RAFT-large (Teed & Deng, ECCV 2020) in plain PyTorch, and a flow estimator built on it.

Inference follows the official code: images scaled to [-1, 1]; features and context at 1/8 resolution; `iters`
GRU refinements of the match coordinates through the correlation pyramid; the last flow convex-upsampled to full
resolution. Inputs are padded to a multiple of 8 by edge replication, split evenly on both sides (the official
'sintel' padding), and the flow is cropped back. Weights come from loading.py (official or torchvision layout).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .frames import check_frames
from .raft_corr import LEVELS, CorrPyramid, lookup_channels
from .raft_encoder import Encoder
from .raft_update import CONTEXT, HIDDEN, UPSAMPLE, FlowHead, MaskHead, MotionEncoder, SepConvGRU, convex_upsample

DEFAULT_ITERS = 12  # the official and torchvision default; 20-32 refine slightly further at proportional cost
# The correlation pyramid halves the 1/8-resolution grid LEVELS − 1 times and needs at least one cell at the end.
RAFT_MIN_SIZE = UPSAMPLE * 2 ** (LEVELS - 1)


def _coords_grid(b: int, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    ys, xs = torch.meshgrid(
        torch.arange(h, device=like.device, dtype=like.dtype),
        torch.arange(w, device=like.device, dtype=like.dtype),
        indexing="ij",
    )
    return torch.stack([xs, ys]).unsqueeze(0).expand(b, -1, -1, -1)


class RAFT(nn.Module):
    """RAFT-large. forward(image1, image2) -> flow (B, 2, H, W) from image1 to image2, H and W multiples of 8."""

    def __init__(self) -> None:
        super().__init__()
        self.feature_net = Encoder("instance")
        self.context_net = Encoder("batch")
        self.motion = MotionEncoder(lookup_channels())
        self.gru = SepConvGRU(CONTEXT + HIDDEN)
        self.flow_head = FlowHead()
        self.mask_head = MaskHead()

    def forward(self, image1: torch.Tensor, image2: torch.Tensor, iters: int = DEFAULT_ITERS) -> torch.Tensor:
        """Images (B, 3, H, W) in [-1, 1]."""
        b, _, h, w = image1.shape
        if h % UPSAMPLE or w % UPSAMPLE or image2.shape != image1.shape:
            raise ValueError(
                f"RAFT needs two equal-sized batches with H and W multiples of {UPSAMPLE}; "
                f"found {list(image1.shape)} and {list(image2.shape)}"
            )
        if min(h, w) < RAFT_MIN_SIZE:
            raise ValueError(
                f"RAFT needs frames of at least {RAFT_MIN_SIZE}×{RAFT_MIN_SIZE} pixels (its 4-level correlation "
                f"pyramid); found {h}×{w}. Use DIS for smaller frames."
            )
        # Both images through the feature encoder as one batch, as the official code does (instance norm is per
        # image, so this only saves a launch).
        fmap1, fmap2 = self.feature_net(torch.cat([image1, image2])).float().split(b)
        corr = CorrPyramid(fmap1, fmap2)
        hidden, context = self.context_net(image1).split([HIDDEN, CONTEXT], dim=1)
        hidden, context = torch.tanh(hidden), F.relu(context)
        coords0 = _coords_grid(b, h // UPSAMPLE, w // UPSAMPLE, fmap1)
        coords1 = coords0.clone()
        for _ in range(iters):
            flow = coords1 - coords0
            motion = self.motion(flow, corr.lookup(coords1))
            hidden = self.gru(hidden, torch.cat([context, motion], dim=1))
            coords1 = coords1 + self.flow_head(hidden)
        # Only the last refinement's flow is needed at inference, so the mask is computed once.
        return convex_upsample(coords1 - coords0, self.mask_head(hidden))


def _pad_amounts(h: int, w: int, multiple: int) -> tuple[int, int, int, int]:
    ph, pw = (-h) % multiple, (-w) % multiple
    return (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)


def pad_to_multiple(x: torch.Tensor, multiple: int = UPSAMPLE) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Edge-replicate x (B, C, H, W) to multiples of `multiple`, split evenly; returns (padded, (l, r, t, b))."""
    pad = _pad_amounts(*x.shape[-2:], multiple)
    return (F.pad(x, pad, mode="replicate") if any(pad) else x), pad


def raft_flow(model: RAFT, frames_a: torch.Tensor, frames_b: torch.Tensor, iters: int = DEFAULT_ITERS) -> torch.Tensor:
    """Flow F_a→b (B, 2, H, W) for frames (B, C, H, W) in [0, 1] (grayscale is repeated to RGB), any size."""
    if frames_a.shape != frames_b.shape:
        raise ValueError(
            f"frames_a and frames_b must have the same shape; found {list(frames_a.shape)} and {list(frames_b.shape)}"
        )
    if iters < 1:
        raise ValueError(f"iters must be at least 1, got {iters}")
    h, w = frames_a.shape[-2:]
    param = next(model.parameters())
    images = []
    for frames in (frames_a, frames_b):
        x = frames.to(param.device, param.dtype)
        if frames.dtype == torch.uint8:
            x = x / 255.0
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        images.append(pad_to_multiple(2 * x - 1)[0])
    pad = _pad_amounts(h, w, UPSAMPLE)
    flow = model(images[0], images[1], iters)
    return flow[..., pad[2] : pad[2] + h, pad[0] : pad[0] + w]


class RaftFlow:
    """A flow estimator (a, b) -> F_a→b with a loaded RAFT; pairs run one at a time so peak memory is one pair's
    correlation volume ((H/8·W/8)² floats: 64 MiB at 512², 4 GiB at 1080p)."""

    def __init__(self, model: RAFT, iters: int = DEFAULT_ITERS, device: Optional[torch.device | str] = None) -> None:
        self.model = model.eval()
        if device is not None:
            self.model.to(device)
        self.iters = iters

    def __call__(self, frames_a: torch.Tensor, frames_b: torch.Tensor) -> torch.Tensor:
        check_frames(frames_a, "frames_a")
        check_frames(frames_b, "frames_b")
        if frames_b.shape[0] == 1 and frames_a.shape[0] > 1:
            frames_b = frames_b.expand(frames_a.shape[0], -1, -1, -1)
        out = []
        with torch.inference_mode():
            for k in range(frames_a.shape[0]):
                out.append(raft_flow(self.model, frames_a[k : k + 1], frames_b[k : k + 1], self.iters).float().cpu())
        return torch.cat(out)
