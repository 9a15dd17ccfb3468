"""Fill the frames between generated keyframes (FlowVid Sec. 4.3: RIFE between keyframes at interval 4).

The interpolator is passed in, so this stays independent of any one frame-interpolation model; the node hands it
RIFE. Gaps come from keyframes.interpolation_gaps, so a short last gap (e.g. 116 -> 119) gets its own timesteps.
"""
from __future__ import annotations

from typing import Callable

import torch

from ..common.hooks import NO_HOOKS, LoopHooks
from .keyframes import interpolation_gaps, keyframe_indices

# (img0 (B, 3, H, W), img1 (B, 3, H, W), timesteps (B,)) -> frames (B, 3, H, W), all in 0..1
Interpolator = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def fill_gaps(
    keyframes: torch.Tensor, num_frames: int, interval: int, interpolate: Interpolator, hooks: LoopHooks = NO_HOOKS
) -> torch.Tensor:
    """keyframes IMAGE (K, H, W, 3) at keyframe_indices(num_frames, interval) -> every frame (num_frames, H, W, 3).

    Keyframes are copied exactly; each gap is one interpolator call with all its timesteps. hooks: a cancel point
    before each gap and progress (gaps done, gaps) after it.
    """
    keys = keyframe_indices(num_frames, interval)
    if keyframes.dim() != 4 or keyframes.shape[0] != len(keys):
        raise ValueError(
            f"{num_frames} frames at interval {interval} have {len(keys)} keyframes; found a batch of shape "
            f"{list(keyframes.shape)}"
        )
    out = torch.empty((num_frames, *keyframes.shape[1:]), dtype=keyframes.dtype)
    out[keys] = keyframes
    slot = {frame: i for i, frame in enumerate(keys)}
    gaps = interpolation_gaps(num_frames, interval)
    for done, gap in enumerate(gaps, start=1):
        hooks.cancel_point()
        count = len(gap.frames)
        img0 = keyframes[slot[gap.start]].permute(2, 0, 1).unsqueeze(0).expand(count, -1, -1, -1)
        img1 = keyframes[slot[gap.end]].permute(2, 0, 1).unsqueeze(0).expand(count, -1, -1, -1)
        steps = torch.tensor(gap.timesteps, dtype=torch.float32)
        frames = interpolate(img0, img1, steps).clamp(0.0, 1.0)
        out[gap.start + 1 : gap.end] = frames.permute(0, 2, 3, 1).to(out.dtype)
        hooks.step(done, len(gaps))
    return out
