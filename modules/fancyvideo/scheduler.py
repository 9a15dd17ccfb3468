"""FancyVideo's DDIM schedules: linear betas, the zero-terminal-SNR rescale, DDIM timesteps and the DDIM step.

The numbers follow diffusers 0.11.1's DDIMScheduler as FancyVideo's InferPipeline builds it: 1000 float32 training
steps, steps_offset 1, clip_sample off, set_alpha_to_one (alpha-bar past the last step is 1), eta 0. The video schedule
is the zero-SNR rescale with v-prediction; the T2V first-frame image uses the plain linear schedule with epsilon.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

logger = logging.getLogger("FrameLoom.fancyvideo")

NUM_TRAIN_TIMESTEPS = 1000
BETA_START = 0.00085
BETA_END = 0.012
STEPS_OFFSET = 1
PREDICTION_TYPES = ("epsilon", "v_prediction")


def linear_betas(
    num_train_timesteps: int = NUM_TRAIN_TIMESTEPS, beta_start: float = BETA_START, beta_end: float = BETA_END
) -> torch.Tensor:
    """Betas linear in beta itself (diffusers' "linear"); SD's usual scaled_linear is linear in sqrt(beta) instead."""
    if num_train_timesteps < 2:
        raise ValueError(f"num_train_timesteps must be at least 2, got {num_train_timesteps}")
    return torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float32)


def alphas_cumprod(betas: torch.Tensor) -> torch.Tensor:
    """alpha-bar_t = prod_{s<=t} (1 - beta_s)."""
    return torch.cumprod(1.0 - betas, dim=0)


def enforce_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Rescale betas so that alpha-bar at the last step is exactly 0 (SNR 0) while alpha-bar_0 is unchanged.

    sqrt(alpha-bar) is shifted so its last value is 0 and scaled so its first value is kept; the betas are recovered
    from the ratios of consecutive alpha-bars, so the last beta becomes 1.
    """
    if betas.ndim != 1 or betas.numel() < 2:
        raise ValueError(f"expected a 1-D tensor of at least 2 betas, got shape {tuple(betas.shape)}")
    root = alphas_cumprod(betas).sqrt()
    first, last = root[0].clone(), root[-1].clone()
    root = (root - last) * (first / (first - last))
    bar = root**2
    alphas = torch.cat([bar[:1], bar[1:] / bar[:-1]])
    return 1 - alphas


def ddim_timesteps(
    num_inference_steps: int = 50, num_train_timesteps: int = NUM_TRAIN_TIMESTEPS, steps_offset: int = STEPS_OFFSET
) -> torch.Tensor:
    """Descending DDIM timesteps with 'leading' spacing plus the offset: 981, 961, ..., 1 for 50 of 1000 steps."""
    if not 1 <= num_inference_steps <= num_train_timesteps:
        raise ValueError(f"num_inference_steps must be in 1..{num_train_timesteps}, got {num_inference_steps}")
    ratio = num_train_timesteps // num_inference_steps
    return (torch.arange(num_inference_steps, dtype=torch.int64) * ratio).flip(0) + steps_offset


@dataclass(frozen=True)
class DDIMSchedule:
    """A deterministic (eta 0) DDIM sampler over a fixed alpha-bar table."""

    alphas_cumprod: torch.Tensor
    prediction_type: str = "epsilon"

    def __post_init__(self) -> None:
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {self.prediction_type!r}")

    @property
    def num_train_timesteps(self) -> int:
        return int(self.alphas_cumprod.numel())

    def step(
        self, model_output: torch.Tensor, timestep: int, sample: torch.Tensor, num_inference_steps: int = 50
    ) -> torch.Tensor:
        """x_{t-k} from x_t and the model output at t, where k = num_train_timesteps // num_inference_steps."""
        timestep = int(timestep)
        if not 0 <= timestep < self.num_train_timesteps:
            raise ValueError(f"timestep must be in 0..{self.num_train_timesteps - 1}, got {timestep}")
        prev = timestep - self.num_train_timesteps // num_inference_steps
        a_t = self.alphas_cumprod[timestep]
        # set_alpha_to_one: past the first training step the previous alpha-bar is exactly 1.
        a_prev = self.alphas_cumprod[prev] if prev >= 0 else torch.tensor(1.0, dtype=a_t.dtype)
        b_t = 1 - a_t
        if self.prediction_type == "v_prediction":
            x0 = a_t**0.5 * sample - b_t**0.5 * model_output
            eps = a_t**0.5 * model_output + b_t**0.5 * sample
        else:
            x0 = (sample - b_t**0.5 * model_output) / a_t**0.5
            eps = model_output
        return a_prev**0.5 * x0 + (1 - a_prev) ** 0.5 * eps


def video_schedule() -> DDIMSchedule:
    """The schedule FancyVideo samples videos with: zero-terminal-SNR linear betas, v-prediction."""
    return DDIMSchedule(alphas_cumprod(enforce_zero_terminal_snr(linear_betas())), "v_prediction")


def image_schedule() -> DDIMSchedule:
    """The schedule of the T2V first-frame image: plain linear betas, epsilon prediction."""
    return DDIMSchedule(alphas_cumprod(linear_betas()), "epsilon")
