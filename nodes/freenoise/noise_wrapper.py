"""FreeNoise noise rescheduling for every ComfyUI sampler: an OUTER_SAMPLE wrapper that reshuffles the initial noise.

The sampler hands CFGGuider.outer_sample its initial noise (comfy.sample.prepare_noise: torch.manual_seed(seed), then
randn of the latent's shape). For FancyVideo's SD1.5 UNet that is [frames, C, H, W], so the frame axis is the latent
batch. The wrapper replaces it with shuffled copies of the first window's frames (modules.freenoise.noise) before
ComfyUI moves it to the device, so the stock KSampler, SamplerCustom and any sampler function get it.

Shuffle RNG, seeded with the sampler's seed unless a shuffle seed is set:
* "official": Python's random.shuffle on random.Random(seed) (AILab-CVC/FreeNoise);
* "diffusers": torch.randperm on a CPU generator seeded with the seed after replaying a draw of the noise's shape and
  dtype, i.e. the generator state prepare_noise leaves behind, as diffusers shuffles with the generator that drew its
  noise. Latents with diffusers' element count get diffusers' permutations; the noise values themselves are ComfyUI's
  [F, C, H, W] draw, not diffusers' [B, C, F, H, W] one.

Step noise is not rescheduled. Deterministic samplers (euler, ddim, dpmpp_2m, uni_pc, heun, lms, ...) use nothing but
the initial noise, which is the method as published (DDIM with eta 0). Ancestral, SDE, ddpm and lcm samplers add fresh
noise at every step, drawn from the seed independently per frame; it weakens the long-range consistency that the
shuffled initial noise gives, so prefer a deterministic sampler with FreeNoise.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional

import torch

from ...modules.freenoise.noise import apply_index_map, shuffle_index_map
from .schedule import check_prompt_frames

logger = logging.getLogger("FrameLoom.freenoise")


@dataclass(frozen=True)
class NoiseRescheduler:
    """OUTER_SAMPLE wrapper. mode None leaves the noise alone but still checks per-frame prompts against the latent."""

    mode: Optional[str]
    context_length: int
    stride: int
    shuffle_seed: Optional[int] = None
    video_frames: Optional[int] = None  # frames per video when one latent batch holds several videos

    def index_map(self, noise: torch.Tensor, seed: int) -> list[int]:
        """Element i: the base-noise frame that frame i of each video copies."""
        frames = self.video_frames or noise.shape[0]
        if self.mode == "official":
            return shuffle_index_map(frames, self.context_length, self.stride, mode="official", seed=seed)
        generator = torch.Generator("cpu").manual_seed(seed)
        torch.randn(tuple(noise.shape), generator=generator, dtype=noise.dtype)  # the state prepare_noise leaves
        return shuffle_index_map(frames, self.context_length, self.stride, mode="diffusers", generator=generator)

    def reschedule(self, noise: torch.Tensor, seed: Optional[int]) -> torch.Tensor:
        """The rescheduled copy of `noise` [B, C, H, W] (B = videos x frames); `seed` is the sampler's seed."""
        if noise.dim() != 4:
            raise ValueError(
                f"FreeNoise reschedules latents laid out [frames, channels, height, width] (FancyVideo's SD1.5 "
                f"latents); got noise of shape {tuple(noise.shape)}"
            )
        batch = noise.shape[0]
        frames = self.video_frames or batch
        if batch % frames:
            raise ValueError(f"a latent batch of {batch} frames does not split into videos of {frames} frames")
        if frames <= self.context_length:
            logger.info("FreeNoise: %d frames fit in one window of %d; sampling them plainly", frames, self.context_length)
            return noise
        if self.mode is None:
            return noise
        if self.shuffle_seed is not None:
            seed = self.shuffle_seed
        elif seed is None:
            logger.warning("FreeNoise: the sampler passed no seed; shuffling with seed 0")
            seed = 0
        index_map = self.index_map(noise, seed)
        videos = noise.reshape(batch // frames, frames, *noise.shape[1:])
        logger.info(
            "FreeNoise: rescheduled noise for %d x %d frames (%s shuffle, window %d, stride %d, seed %d)",
            batch // frames, frames, self.mode, self.context_length, self.stride, seed,
        )
        return apply_index_map(videos, index_map, frame_dim=1).reshape(noise.shape)

    def __call__(
        self, executor: Any, noise: torch.Tensor, latent_image: torch.Tensor, sampler: Any, sigmas: torch.Tensor,
        denoise_mask: Optional[torch.Tensor] = None, callback: Any = None, disable_pbar: bool = False,
        seed: Optional[int] = None, **kwargs: Any,
    ) -> torch.Tensor:
        shapes = kwargs.get("latent_shapes")
        if shapes is not None and len(shapes) > 1:
            raise ValueError("FreeNoise cannot reschedule packed (nested) latents of several shapes; sample one video")
        guider = getattr(executor, "class_obj", None)
        check_prompt_frames(getattr(guider, "conds", None) or {}, self.video_frames or noise.shape[0])
        noise = self.reschedule(noise, seed)
        return executor(noise, latent_image, sampler, sigmas, denoise_mask, callback, disable_pbar, seed, **kwargs)
