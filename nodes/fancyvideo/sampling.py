"""FancyVideo's noise schedules as ComfyUI model_sampling objects, so every stock sampler and scheduler works.

Video: betas linear in beta (0.00085 -> 0.012; ComfyUI calls this 'sqrt_linear', its 'linear' is SD's scaled_linear)
with the zero-terminal-SNR rescale and v-prediction. First-frame image: the same betas, no rescale, epsilon.
ComfyUI's zsnr rescale keeps the last alpha-bar at 4.9e-8 instead of exactly 0 so that sigma_max stays finite.
"""
from __future__ import annotations

from types import SimpleNamespace

import torch

import comfy.model_sampling

from ...modules.fancyvideo.scheduler import BETA_END, BETA_START, NUM_TRAIN_TIMESTEPS

SAMPLING_MODES = ("v_zsnr", "eps")


def fancyvideo_model_sampling(mode: str = "v_zsnr") -> torch.nn.Module:
    """A ModelSamplingDiscrete for FancyVideo, built the way ComfyUI's ModelSamplingDiscrete node builds one."""
    if mode not in SAMPLING_MODES:
        raise ValueError(f"sampling must be one of {', '.join(SAMPLING_MODES)}, got {mode!r}")
    zsnr = mode == "v_zsnr"
    prediction = comfy.model_sampling.V_PREDICTION if zsnr else comfy.model_sampling.EPS

    class FancyVideoSampling(comfy.model_sampling.ModelSamplingDiscrete, prediction):
        pass

    settings = SimpleNamespace(sampling_settings={
        "beta_schedule": "sqrt_linear",
        "linear_start": BETA_START,
        "linear_end": BETA_END,
        "timesteps": NUM_TRAIN_TIMESTEPS,
    })
    return FancyVideoSampling(settings, zsnr=zsnr)
