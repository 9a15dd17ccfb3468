"""Randomized blending (StreamingT2V stage 3) as a patch on any ComfyUI video MODEL, for SDEdit-style enhancement of
a long video in overlapping chunks.

Two wrappers on a clone of the model:
* OUTER_SAMPLE trims the latent to whole chunks first (n·(chunk−overlap)+overlap frames, as the official
  `video2video_randomized`), so the sampled LATENT is that long; it also starts a fresh offset stream per run.
* APPLY_MODEL predicts x0 chunk by chunk and assembles the whole video's x0 with a random cut inside every overlap
  (modules.streamingt2v.blending). The offsets are drawn once per model evaluation (per distinct sigma), so the cond
  and uncond passes share one cut even when ComfyUI evaluates them separately; CFG is linear per frame, so blending
  each branch with the same cut equals blending the guided x0 as the official sampler does.

Frame layouts: 4-D latents carry the frames in the batch ([B·F, C, h, w] per CFG branch: AnimateDiff, SVD), 5-D
latents in dim 2 ([B, C, T, h, w]: Wan, Hunyuan, LTX; chunks count latent frames). Per-frame conditions (tensors
whose batch or frame axis matches) are cut with the latent; SVD's `num_video_frames` is set to the chunk length.
Offsets come from a seeded, node-owned stream; the official code draws them from Python's unseeded global `random`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional

import torch

import comfy.patcher_extension

from ...modules.streamingt2v import OffsetSampler, blend_chunk_predictions, chunk_starts, ms_trim_length

logger = logging.getLogger("FrameLoom.streamingt2v")

PATCH_KEY = "frameloom_randomized_blending"


@dataclass(frozen=True)
class BlendingOptions:
    chunk_size: int = 24
    overlap: int = 8
    seed: int = 0
    rng_mode: str = "torch"

    def __post_init__(self) -> None:
        if self.chunk_size < 2 or not 0 <= self.overlap < self.chunk_size:
            raise ValueError(
                f"need chunk_size >= 2 and 0 <= overlap < chunk_size; got chunk {self.chunk_size}, overlap {self.overlap}"
            )
        OffsetSampler(self.seed, self.rng_mode)  # validates the mode


def _frame_axis(latent: torch.Tensor) -> int:
    if latent.ndim == 4:
        return 0
    if latent.ndim == 5:
        return 2
    raise ValueError(
        f"randomized blending needs video latents, [frames, C, h, w] or [B, C, T, h, w]; got {list(latent.shape)}"
    )


def _trim(value: Optional[torch.Tensor], axis: int, frames: int, keep: int) -> Optional[torch.Tensor]:
    if isinstance(value, torch.Tensor) and value.ndim > axis and value.shape[axis] == frames:
        return value.narrow(axis, 0, keep)
    return value


class _Chunking:
    """How one model call's tensors are cut into frame chunks."""

    def __init__(self, x: torch.Tensor, branches: int) -> None:
        self.five_d = _frame_axis(x) == 2
        self.rows = x.shape[0]
        if self.five_d:
            self.frames = x.shape[2]
        else:
            if self.rows % branches:
                raise ValueError(f"a batch of {self.rows} latent frames does not split into {branches} CFG branches")
            self.branches = branches
            self.frames = self.rows // branches

    def take(self, value: Any, start: int, length: int) -> Any:
        if isinstance(value, torch.Tensor):
            if self.five_d:
                return value.narrow(2, start, length) if value.ndim == 5 and value.shape[2] == self.frames else value
            if value.ndim >= 1 and value.shape[0] == self.rows:
                return value.unflatten(0, (self.branches, self.frames)).narrow(1, start, length).flatten(0, 1)
            return value
        if isinstance(value, (list, tuple)):
            return type(value)(self.take(v, start, length) for v in value)
        if isinstance(value, dict):
            return {k: self.take(v, start, length) for k, v in value.items()}
        return value

    def blend(self, predictions, starts: list[int], offsets: list[int]) -> torch.Tensor:
        if self.five_d:
            return blend_chunk_predictions(predictions, starts, offsets, self.frames, frame_dim=2)
        per_branch = (p.unflatten(0, (self.branches, -1)) for p in predictions)
        return blend_chunk_predictions(per_branch, starts, offsets, self.frames, frame_dim=1).flatten(0, 1)


class RandomizedBlending:
    """The two wrappers and the per-run offset stream of one patched model."""

    def __init__(self, options: BlendingOptions) -> None:
        self.options = options
        self._offsets: Optional[OffsetSampler] = None
        self._sigma: Optional[float] = None
        self._drawn: list[int] = []

    def _reset(self) -> None:
        self._offsets = OffsetSampler(self.options.seed, self.options.rng_mode)
        self._sigma = None

    def outer_sample(self, executor, noise, latent_image, sampler, sigmas, denoise_mask=None, *args, **kwargs):
        shapes = kwargs.get("latent_shapes")
        if shapes is not None and len(shapes) > 1:
            raise ValueError("randomized blending works on a single video latent, not on packed multi-part latents")
        axis = _frame_axis(noise)
        frames = noise.shape[axis]
        plan = ms_trim_length(frames, self.options.chunk_size, self.options.overlap)
        if plan.trim_length < frames:
            logger.warning(
                "randomized blending trims the latent from %d to %d frames (%d whole chunks of %d, overlap %d), as the "
                "official enhancer does; the output has %d frames",
                frames, plan.trim_length, plan.n_chunks, self.options.chunk_size, self.options.overlap, plan.trim_length,
            )  # fmt: skip
            keep = plan.trim_length
            noise, latent_image = _trim(noise, axis, frames, keep), _trim(latent_image, axis, frames, keep)
            denoise_mask = _trim(denoise_mask, axis, frames, keep)
            if shapes is not None:
                kwargs["latent_shapes"] = [noise.shape]
        self._reset()
        return executor(noise, latent_image, sampler, sigmas, denoise_mask, *args, **kwargs)

    def offsets_for(self, sigma: torch.Tensor, chunks: int) -> list[int]:
        """This evaluation's cut offsets: a new draw when sigma changes, the same draw for the other CFG branch."""
        key = float(sigma.reshape(-1)[0])
        if self._offsets is None:  # called outside a sampling run: still seeded
            self._reset()
        if key != self._sigma:
            self._drawn = self._offsets.draw(chunks, self.options.overlap)
            self._sigma = key
        return self._drawn

    def apply_model(self, executor, x, t, c_concat=None, c_crossattn=None, control=None, transformer_options=None, **kwargs):
        options = transformer_options if transformer_options is not None else {}
        chunking = _Chunking(x, len(options.get("cond_or_uncond", [0])))
        size = self.options.chunk_size
        starts = chunk_starts(chunking.frames, size, self.options.overlap)
        if len(starts) == 1 and chunking.frames == size:
            return executor(x, t, c_concat, c_crossattn, control, transformer_options, **kwargs)
        offsets = self.offsets_for(t, len(starts))

        def predictions():
            for start in starts:
                extra = chunking.take(kwargs, start, size)
                if "num_video_frames" in extra:  # SVD reshapes its batch by this count
                    extra["num_video_frames"] = size
                take = [chunking.take(v, start, size) for v in (x, t, c_concat, c_crossattn, control)]
                yield executor(*take, transformer_options, **extra)

        return chunking.blend(predictions(), starts, offsets)


def apply_randomized_blending(model_patcher, options: BlendingOptions):
    """A clone of `model_patcher` (a ComfyUI MODEL) that samples long videos by randomized blending."""
    patched = model_patcher.clone()
    blending = RandomizedBlending(options)
    wrappers = comfy.patcher_extension.WrappersMP
    for kind, wrapper in ((wrappers.OUTER_SAMPLE, blending.outer_sample), (wrappers.APPLY_MODEL, blending.apply_model)):
        patched.remove_wrappers_with_key(kind, PATCH_KEY)  # re-patching replaces, never stacks
        patched.add_wrapper_with_key(kind, PATCH_KEY, wrapper)
    return patched
