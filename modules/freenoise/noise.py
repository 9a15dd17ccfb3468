"""FreeNoise noise rescheduling: long-video noise made of shuffled copies of the first window's i.i.d. frames.

For fi = context_length, context_length + stride, ... < F, the `stride` frames starting at fi - context_length are
shuffled and copied, in place, into [fi, fi + stride). Copies compose, so every frame ends up a copy of one of the
first `context_length` frames. An index map records this: element i = the original frame that output frame i copies.

Two RNG conventions, both reproduced exactly:
* "official" (AILab-CVC/FreeNoise inference_freenoise.py): Python `random.shuffle` after seeding with the seed. A private
  random.Random(seed) is used, which gives the same permutations as random.seed(seed) + random.shuffle without
  touching the global generator. (Inside the official scripts earlier Python-random draws shift the sequence.)
* "diffusers" (AnimateDiffFreeNoiseMixin, noise_type "shuffle_context", latents=None): torch.randperm(stride) on the
  CPU generator that has just drawn the base noise, so the permutations depend on the noise shape.

Tail rule: when (F - context_length) % stride != 0 the last group is shorter than the stride; only the first
F - fi shuffled entries are used (the diffusers truncation; the official scripts fail with a shape error there).
With F <= context_length nothing is shuffled.
"""
from __future__ import annotations

import logging
import random
from typing import Sequence

import torch

from .windows import validate_window_args

logger = logging.getLogger("FrameLoom.freenoise")

NOISE_MODES = ("official", "diffusers")


def _check_mode(mode: str) -> None:
    if mode not in NOISE_MODES:
        raise ValueError(f"unknown noise shuffle mode {mode!r}; expected one of {', '.join(NOISE_MODES)}")


def _compose_groups(num_frames: int, context_length: int, stride: int, permute) -> list[int]:
    """Apply the group-wise copy loop to an identity map; `permute(group)` returns the group's shuffled order."""
    index_map = list(range(num_frames))
    for fi in range(context_length, num_frames, stride):
        group = permute(list(range(fi - context_length, fi - context_length + stride)))
        for j, source in enumerate(group[: num_frames - fi]):
            index_map[fi + j] = index_map[source]
    return index_map


def _official_map(num_frames: int, context_length: int, stride: int, seed: int) -> list[int]:
    rng = random.Random(seed)

    def permute(group: list[int]) -> list[int]:
        rng.shuffle(group)
        return group

    return _compose_groups(num_frames, context_length, stride, permute)


def _diffusers_map(num_frames: int, context_length: int, stride: int, generator: torch.Generator) -> list[int]:
    def permute(group: list[int]) -> list[int]:
        return [group[k] for k in torch.randperm(len(group), generator=generator).tolist()]

    return _compose_groups(num_frames, context_length, stride, permute)


def shuffle_index_map(
    num_frames: int,
    context_length: int = 16,
    stride: int = 4,
    *,
    mode: str,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    noise_shape: Sequence[int] | None = None,
) -> list[int]:
    """Index map of the rescheduled noise: element i = original i.i.d. frame that output frame i copies.

    mode "official" needs `seed`. mode "diffusers" needs the generator state right after the base noise was drawn:
    pass that `generator`, or `seed` and the base noise's `noise_shape` (the draw is then replayed to reach the same
    state). `reschedule_noise` does the whole thing in one call.
    """
    validate_window_args(context_length, stride)
    _check_mode(mode)
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames must be a positive whole number, got {num_frames!r}")
    if mode == "official":
        if seed is None:
            raise ValueError("mode 'official' needs a seed (it seeds Python's random.shuffle)")
        return _official_map(num_frames, context_length, stride, seed)
    if generator is None:
        if seed is None or noise_shape is None:
            raise ValueError(
                "mode 'diffusers' shuffles with the generator that drew the base noise: pass that generator, "
                "or both seed and noise_shape, or use reschedule_noise()"
            )
        generator = torch.Generator("cpu").manual_seed(seed)
        torch.randn(tuple(noise_shape), generator=generator)  # replay the base-noise draw to advance the state
    return _diffusers_map(num_frames, context_length, stride, generator)


def apply_index_map(noise: torch.Tensor, index_map: Sequence[int], frame_dim: int) -> torch.Tensor:
    """A new tensor whose frame i (along `frame_dim`) is frame index_map[i] of `noise`; works for any layout."""
    if noise.dim() == 0:
        raise ValueError("apply_index_map expected a tensor with a frame dimension, got a scalar")
    num_frames = noise.shape[frame_dim]
    if len(index_map) != num_frames:
        raise ValueError(
            f"index map has {len(index_map)} entries but the noise has {num_frames} frames along dim {frame_dim}"
        )
    if any(not 0 <= i < num_frames for i in index_map):
        raise ValueError(f"index map entries must lie in 0..{num_frames - 1}")
    index = torch.as_tensor(list(index_map), dtype=torch.long, device=noise.device)
    return noise.index_select(frame_dim, index)


def reschedule_noise(
    shape: Sequence[int],
    seed: int,
    mode: str,
    *,
    frame_dim: int = 2,
    context_length: int = 16,
    stride: int = 4,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, list[int]]:
    """Draw base noise of `shape` on a CPU generator seeded with `seed` and reschedule it along `frame_dim`.

    Returns (rescheduled noise, index map). In "diffusers" mode the permutations come from the same generator after
    the draw, exactly as diffusers does for shape [B, C, F, H, W] (frame_dim=2) in float32.
    """
    _check_mode(mode)
    shape = tuple(int(s) for s in shape)
    if not shape:
        raise ValueError("noise shape must have a frame dimension")
    num_frames = shape[frame_dim]
    generator = torch.Generator("cpu").manual_seed(seed)
    base = torch.randn(shape, generator=generator, dtype=dtype)
    if mode == "official":
        index_map = shuffle_index_map(num_frames, context_length, stride, mode=mode, seed=seed)
    else:
        index_map = shuffle_index_map(num_frames, context_length, stride, mode=mode, generator=generator)
    logger.debug("rescheduled %d frames (%s mode, window %d, stride %d)", num_frames, mode, context_length, stride)
    return apply_index_map(base, index_map, frame_dim), index_map
