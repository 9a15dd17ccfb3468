"""The frame batches every flow estimator accepts."""
from __future__ import annotations

import torch

# OpenCV's DIS refuses images whose larger side is below 12 px; 16 keeps every preset's patch pyramid meaningful.
MIN_SIZE = 16


def check_frames(frames: torch.Tensor, name: str = "frames") -> None:
    """Frames for flow estimation: (N, C, H, W), C = 1 or 3, float in [0, 1] or uint8, at least MIN_SIZE px."""
    if not isinstance(frames, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor (N, C, H, W); got {type(frames).__name__}")
    if frames.dim() != 4 or frames.shape[1] not in (1, 3):
        raise ValueError(
            f"{name} must be (N, C, H, W) with C = 1 or 3 (channels first); found shape {list(frames.shape)}"
        )
    if not (frames.is_floating_point() or frames.dtype == torch.uint8):
        raise ValueError(f"{name} must be float with values in 0..1, or uint8; found {frames.dtype}")
    if min(frames.shape[2:]) < MIN_SIZE:
        raise ValueError(
            f"{name} must be at least {MIN_SIZE}×{MIN_SIZE} pixels for flow; found {frames.shape[2]}×{frames.shape[3]}"
        )
