"""IFNet v4.x: coarse-to-fine intermediate flow estimation for one (batched) frame pair."""
from __future__ import annotations

import logging
from typing import NamedTuple, Optional, Sequence

import torch
from torch import nn

from .blocks import IFBlock, build_head
from .config import RifeConfig
from .warp import base_grid, warp

logger = logging.getLogger("FrameLoom.rife")


class IFNetOutput(NamedTuple):
    frame: torch.Tensor  # [N,3,H,W] merged frame, unclamped (the official merged[-1])
    flow: torch.Tensor  # [N,4,H,W] final flow in pixels: t->0 (x,y), then t->1 (x,y)
    mask_logits: torch.Tensor  # [N,1,H,W] final blend mask before the sigmoid


def _swap(flow: torch.Tensor) -> torch.Tensor:
    """Exchange the t->0 and t->1 flows, as seen from the reversed pair."""
    return torch.cat((flow[:, 2:4], flow[:, :2]), 1)


def _block_input(
    a: torch.Tensor, b: torch.Tensor, fa: Optional[torch.Tensor], fb: Optional[torch.Tensor], t: torch.Tensor,
    *rest: torch.Tensor,
) -> torch.Tensor:
    """Block input in the official channel order: images, features (absent in 4.6), timestep, then mask[, feat]."""
    parts = [a, b] + ([fa, fb] if fa is not None else []) + [t, *rest]
    return torch.cat(parts, 1)


class IFNet(nn.Module):
    """The network of one RIFE version. Submodules are block0..blockK and encode, as in the official state dict.

    forward() expects inputs already padded to the version's modulo (see pair.py, which also handles dtype).
    """

    def __init__(self, config: RifeConfig) -> None:
        super().__init__()
        self.config = config
        self.version = config.version
        for i, width in enumerate(config.widths):
            in_ch = config.block0_in if i == 0 else config.block_in
            self.add_module(f"block{i}", IFBlock(in_ch, width, config.lastconv_channels, config.resconv_groups))
        head = build_head(config)
        if head is not None:
            self.encode = head

    def blocks(self) -> list[IFBlock]:
        return [getattr(self, f"block{i}") for i in range(self.config.num_blocks)]

    def extra_repr(self) -> str:
        return f"version={self.version}"

    def forward(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        timestep: torch.Tensor,
        scale_list: Sequence[float],
        ensemble: bool = False,
    ) -> IFNetOutput:
        """img0/img1 [N,3,H,W] in 0..1; timestep [N,1,H,W] plane; one scale per block (config.scale_list)."""
        cfg = self.config
        if len(scale_list) != cfg.num_blocks:
            raise ValueError(f"RIFE {cfg.version} has {cfg.num_blocks} blocks; got {len(scale_list)} scales")
        if ensemble and not cfg.ensemble:
            raise ValueError(f"RIFE {cfg.version} does not support ensemble (only versions up to 4.20 and 4.24 do)")
        grid = base_grid(img0.shape[2], img0.shape[3], img0.device)
        head: Optional[nn.Module] = getattr(self, "encode", None)
        f0 = head(img0) if head is not None else None
        f1 = head(img1) if head is not None else None

        flow: Optional[torch.Tensor] = None
        mask: Optional[torch.Tensor] = None
        feat: Optional[torch.Tensor] = None
        warped0, warped1 = img0, img1
        for block, scale in zip(self.blocks(), scale_list):
            if flow is None:
                delta, m, feat = block(_block_input(img0, img1, f0, f1, timestep), None, scale)
                if ensemble:
                    rev = block(_block_input(img1, img0, f1, f0, 1 - timestep), None, scale)
                    delta = (delta + _swap(rev.flow)) / 2
                    m = (m + (-rev.mask)) / 2
                flow, mask = delta, m
            else:
                wf0 = warp(f0, flow[:, :2], grid) if f0 is not None else None
                wf1 = warp(f1, flow[:, 2:4], grid) if f1 is not None else None
                extra = (mask,) if feat is None else (mask, feat)
                delta, m, feat = block(_block_input(warped0, warped1, wf0, wf1, timestep, *extra), flow, scale)
                if ensemble:
                    # Reverse pass on the swapped pair; averaged BEFORE the update (the official order).
                    rev = block(_block_input(warped1, warped0, wf1, wf0, 1 - timestep, -mask), _swap(flow), scale)
                    delta = (delta + _swap(rev.flow)) / 2
                    m = (m + (-rev.mask)) / 2
                mask = mask + m if cfg.mask_accumulates else m
                flow = flow + delta
            warped0 = warp(img0, flow[:, :2], grid)
            warped1 = warp(img1, flow[:, 2:4], grid)
        assert flow is not None and mask is not None
        weight = torch.sigmoid(mask)
        frame = warped0 * weight + warped1 * (1 - weight)
        return IFNetOutput(frame, flow, mask)
