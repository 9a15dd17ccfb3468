"""Frame-sequence interpolation: [F,H,W,3] in, [(F-1)*multiplier+1,H,W,3] out, in bounded memory.

The output is allocated once on the CPU and filled in place; only `batch_size` pairs (with all their timesteps) are
on the compute device at a time, so memory beyond the input and output does not grow with the video length.
"""
from __future__ import annotations

import logging
from typing import Optional

import torch

from ..common import LoopHooks, chunk_ranges
from ..common.hooks import NO_HOOKS
from .ifnet import IFNet
from .pair import interpolate_pair
from .scene import detect_scene_cuts

logger = logging.getLogger("FrameLoom.rife")

_VALIDATE_CHUNK = 16


def _validate_frames(frames: torch.Tensor) -> None:
    if not isinstance(frames, torch.Tensor):
        raise ValueError(f"frames must be a torch.Tensor [F,H,W,3], got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be an IMAGE batch [F,H,W,3] (RGB, channels last), got shape {list(frames.shape)}")
    if not frames.is_floating_point():
        raise ValueError(f"frames must be float with values in 0..1, got {frames.dtype}")
    if frames.shape[0] < 2:
        raise ValueError(f"interpolation needs at least 2 frames, got {frames.shape[0]}")
    # Checked in chunks: a full-size boolean mask of a long HD video would cost gigabytes.
    for start, end in chunk_ranges(frames.shape[0], _VALIDATE_CHUNK):
        if not torch.isfinite(frames[start:end]).all():
            raise ValueError(f"frames contain NaN or Inf values (in frames {start}..{end - 1}); expected values in 0..1")


def _place_net(net: IFNet, device: Optional[torch.device | str], dtype: Optional[torch.dtype]) -> tuple[torch.device, torch.dtype]:
    param = next(net.parameters())
    target_device = torch.device(device) if device is not None else param.device
    target_dtype = dtype if dtype is not None else param.dtype
    if param.device != target_device or param.dtype != target_dtype:
        logger.info("moving RIFE %s to %s / %s", net.version, target_device, target_dtype)
        net.to(device=target_device, dtype=target_dtype)
    return target_device, target_dtype


def interpolate_video(
    net: IFNet,
    frames: torch.Tensor,
    multiplier: int,
    *,
    scale: float = 1.0,
    ensemble: bool = False,
    batch_size: int = 4,
    device: Optional[torch.device | str] = None,
    dtype: Optional[torch.dtype] = None,
    scene_cut_threshold: Optional[float] = None,
    hooks: Optional[LoopHooks] = None,
) -> torch.Tensor:
    """Insert multiplier-1 frames between each consecutive pair, at timesteps i/multiplier.

    frames: float32 [F,H,W,3] in 0..1 on the CPU (ComfyUI IMAGE). Returns float32 [(F-1)*multiplier+1,H,W,3] on the
    CPU: original frames copied exactly at every multiplier-th position, new frames clamped to 0..1.
    device/dtype: where and in which precision the net runs; when given, the net is moved/cast there in place.
    batch_size: pairs per forward pass (each pair contributes multiplier-1 samples).
    scene_cut_threshold: when set, pairs scoring above it (scene.scene_scores) are not interpolated; their new
    frames repeat the earlier frame, so no cross-fade between two shots appears.
    hooks: cancel_point() before each batch, step(done_pairs, total_pairs) after it.
    """
    _validate_frames(frames)
    if isinstance(multiplier, bool) or not isinstance(multiplier, int) or multiplier < 1:
        raise ValueError(f"multiplier must be an integer >= 1, got {multiplier!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    hooks = hooks or NO_HOOKS
    count = frames.shape[0]
    if multiplier == 1:
        return frames.detach().to(device="cpu", dtype=torch.float32, copy=True)

    device, dtype = _place_net(net, device, dtype)
    out = torch.empty(((count - 1) * multiplier + 1, *frames.shape[1:]), dtype=torch.float32)
    out[::multiplier] = frames

    new_per_pair = multiplier - 1
    cuts = detect_scene_cuts(frames, scene_cut_threshold) if scene_cut_threshold is not None else None
    pairs = []
    for i in range(count - 1):
        if cuts is not None and bool(cuts[i]):
            out[i * multiplier + 1:(i + 1) * multiplier] = frames[i]
        else:
            pairs.append(i)
    if cuts is not None:
        logger.info("scene cuts: %d of %d pairs not interpolated", count - 1 - len(pairs), count - 1)

    # One timestep per new frame of a pair, repeated for every pair of the batch (sample order: pair-major).
    steps = torch.arange(1, multiplier, dtype=torch.float64) / multiplier
    for start, end in chunk_ranges(len(pairs), batch_size):
        hooks.cancel_point()
        index = torch.tensor(pairs[start:end])
        img0 = frames[index].to(device=device, dtype=dtype).permute(0, 3, 1, 2)
        img1 = frames[index + 1].to(device=device, dtype=dtype).permute(0, 3, 1, 2)
        timesteps = steps.repeat(len(index)).to(torch.float32)
        result = interpolate_pair(
            net,
            img0.repeat_interleave(new_per_pair, dim=0),
            img1.repeat_interleave(new_per_pair, dim=0),
            timesteps,
            scale=scale,
            ensemble=ensemble,
        )
        result = result.clamp(0.0, 1.0).permute(0, 2, 3, 1).to(device="cpu", dtype=torch.float32)
        for j, pair in enumerate(pairs[start:end]):
            out[pair * multiplier + 1:(pair + 1) * multiplier] = result[j * new_per_pair:(j + 1) * new_per_pair]
        del img0, img1, result
        hooks.step(end, len(pairs))
    return out
