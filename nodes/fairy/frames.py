"""Frame sizes for the Fairy-style edit: long side to 512 (the paper's setting), both sides multiples of 8."""
from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F

logger = logging.getLogger("FrameLoom.fairy")

LATENT_FACTOR = 8  # SD VAEs downsample by 8; the latent needs whole pixels


def working_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(height, width) to edit at: the long side scaled to `long_side` keeping the aspect ratio (long_side 0 keeps
    the size), each side rounded to the nearest multiple of 8 (at least 8)."""
    if height < 1 or width < 1:
        raise ValueError(f"frames must have a positive size, got {height}x{width}")
    if long_side < 0:
        raise ValueError(f"long_side must be 0 (keep the size) or a positive number of pixels, got {long_side}")
    scale = 1.0 if long_side == 0 else long_side / max(height, width)

    def snap(side: int) -> int:
        # Halves round up (20 -> 24), not to even as round() would.
        return max(LATENT_FACTOR, math.floor(side * scale / LATENT_FACTOR + 0.5) * LATENT_FACTOR)

    return snap(height), snap(width)


def check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[-1] < 3:
        shape = list(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"expected an IMAGE batch [frames, height, width, 3]; found {shape}")


def resize_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """IMAGE [B, H, W, C] -> float32 [B, h, w, 3] at `size`; antialiased so that downscaling does not alias."""
    frames = frames[..., :3].float()
    if tuple(frames.shape[1:3]) == tuple(size):
        return frames
    x = F.interpolate(frames.movedim(-1, 1), size=size, mode="bilinear", antialias=True, align_corners=False)
    return x.movedim(1, -1).clamp_(0.0, 1.0)


def log_resize(height: int, width: int, size: tuple[int, int], long_side: int) -> None:
    if (height, width) == size:
        return
    if long_side == 0:
        logger.info("frames of %dx%d are not multiples of 8: editing at %dx%d", width, height, size[1], size[0])
    else:
        logger.info("editing at %dx%d (long side %d, from %dx%d)", size[1], size[0], long_side, width, height)
