"""Noise schedules of the StreamingT2V enhancers and of StreamingSVD.

* MS-Vid2Vid-XL (StreamingModelscope stage 3): `logsnr_cosine_interp` over 1000 steps (logSNR cosine schedule
  shifted by 2·log(1/scale), scale interpolated 2 -> 4 from t=0 to t=999), rescaled to zero terminal SNR; sampled
  with DPM-Solver++(2M) SDE over 'trailing' timesteps from t_max, with the penultimate step discarded.
* StreamingSVD: AlignYourSteps sigmas (log-linear interpolation of an 11-point schedule 700 -> 0.002) and the
  per-frame linear CFG scale of `LinearPredictionGuider`.

Computations follow the official float32 torch (float64 numpy for AYS) order of operations so the values match to
float rounding.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

AYS_SVD_SCHEDULE = (700.00, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.002)
DISCRETIZATIONS = ("leading", "linspace", "trailing")


def _logsnr_cosine(n: int, logsnr_min: float, logsnr_max: float) -> torch.Tensor:
    t_min = math.atan(math.exp(-0.5 * logsnr_min))
    t_max = math.atan(math.exp(-0.5 * logsnr_max))
    t = torch.linspace(1, 0, n)
    return -2 * torch.log(torch.tan(t_min + t * (t_max - t_min)))


def logsnr_cosine_interp_sigmas(
    n: int = 1000,
    logsnr_min: float = -15.0,
    logsnr_max: float = 15.0,
    scale_min: float = 2.0,
    scale_max: float = 4.0,
    zero_terminal_snr: bool = True,
) -> torch.Tensor:
    """VP sigmas σ_t = sqrt(1 - ᾱ_t), t = 0..n-1 (float32); with zero terminal SNR the last one is exactly 1."""
    base = _logsnr_cosine(n, logsnr_min, logsnr_max)
    t = torch.linspace(1, 0, n)
    low = base + 2 * math.log(1 / scale_min)
    high = base + 2 * math.log(1 / scale_max)
    sigmas = torch.sqrt(torch.sigmoid(-(t * low + (1 - t) * high)))
    if zero_terminal_snr and sigmas.max() != 1.0:
        # Affine stretch that keeps the smallest sigma and maps the largest to 1.
        scale = (1.0 - sigmas.min()) / (sigmas.max() - sigmas.min())
        sigmas = sigmas.min() + scale * (sigmas - sigmas.min())
    return sigmas


def _log_sigmas_ve(train_sigmas: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(train_sigmas**2 / (1 - train_sigmas**2)).log()


def t_to_sigma(train_sigmas: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """VE sigma σ/sqrt(1-σ²) at continuous t, log-linearly interpolated; inf where σ_VP = 1."""
    t = t.float()
    low, high, w = t.floor().long(), t.ceil().long(), t.frac()
    log_sigmas = _log_sigmas_ve(train_sigmas).to(t)
    log_sigma = (1 - w) * log_sigmas[low] + w * log_sigmas[high]
    log_sigma[torch.isnan(log_sigma) | torch.isinf(log_sigma)] = float("inf")
    return log_sigma.exp()


def sigma_to_t(train_sigmas: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Continuous t of VE sigmas (inverse of `t_to_sigma`); the model is fed round(t)."""
    sigma = torch.as_tensor(sigma, dtype=torch.float32)
    log_sigmas = _log_sigmas_ve(train_sigmas).to(sigma)
    flat = sigma.reshape(-1)
    dists = flat.log() - log_sigmas[:, None]
    low = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=log_sigmas.shape[0] - 2)
    lo, hi = log_sigmas[low], log_sigmas[low + 1]
    w = ((lo - flat.log()) / (lo - hi)).clamp(0, 1)
    t = (1 - w) * low + w * (low + 1)
    t = torch.where(torch.isinf(flat), torch.full_like(t, len(train_sigmas) - 1), t)
    return t.view(sigma.shape)


def sampling_timesteps(
    steps: int = 30, t_max: int = 599, t_min: int = 0, discretization: str = "trailing", discard_penultimate_step: bool = True
) -> torch.Tensor:
    """Continuous timesteps of the MS-Vid2Vid-XL sampler (one extra when the penultimate step is discarded)."""
    if discretization not in DISCRETIZATIONS:
        raise ValueError(f"discretization must be one of {DISCRETIZATIONS}, got {discretization!r}")
    if not 0 <= t_min < t_max or steps < 1:
        raise ValueError(f"need steps >= 1 and 0 <= t_min < t_max; got steps {steps}, t_min {t_min}, t_max {t_max}")
    n = steps + (1 if discard_penultimate_step else 0)
    if discretization == "leading":
        ts = torch.arange(t_min, t_max + 1, (t_max - t_min + 1) / n).flip(0)
    elif discretization == "linspace":
        ts = torch.linspace(t_max, t_min, n)
    else:
        ts = torch.arange(t_max, t_min - 1, -((t_max - t_min + 1) / n))
    return ts.clamp_(t_min, t_max).to(torch.float32)


def msvid2vidxl_sampling_sigmas(
    train_sigmas: torch.Tensor,
    steps: int = 30,
    t_max: int = 599,
    t_min: int = 0,
    discretization: str = "trailing",
    discard_penultimate_step: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(VE sigmas ending in 0, their continuous t with NaN for the final 0) for `dpmpp_2m_sde` sampling.

    DPM-Solver++(2M) SDE discards the penultimate step, so one extra timestep is planned and the second-to-last
    sigma removed: 30 steps give 31 sigmas, the last nonzero one at t ≈ 37.7 for t_max 599.
    """
    ts = sampling_timesteps(steps, t_max, t_min, discretization, discard_penultimate_step)
    sigmas = torch.cat([t_to_sigma(train_sigmas, ts), ts.new_zeros(1)])
    t_cont = torch.cat([ts, ts.new_full((1,), float("nan"))])
    if discard_penultimate_step:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
        t_cont = torch.cat([t_cont[:-2], t_cont[-1:]])
    return sigmas, t_cont


def ays_sigmas(num_steps: int = 30, schedule: Sequence[float] = AYS_SVD_SCHEDULE, append_zero: bool = True) -> torch.Tensor:
    """AlignYourSteps sigmas: log-linear interpolation of `schedule` to `num_steps` values (float64), then 0.

    StreamingSVD configures `sigma_max: 700`, but its discretizer ignores it; the schedule itself starts at 700.
    """
    if num_steps < 2:
        raise ValueError(f"AlignYourSteps needs at least 2 steps, got {num_steps}")
    xs = np.linspace(0, 1, len(schedule))
    ys = np.log(np.asarray(schedule, dtype=np.float64)[::-1])
    interp = np.exp(np.interp(np.linspace(0, 1, num_steps), xs, ys))[::-1].copy()
    sigmas = torch.from_numpy(interp)
    return torch.cat([sigmas, sigmas.new_zeros(1)]) if append_zero else sigmas


def linear_guider_scale(num_frames: int = 25, min_scale: float = 1.5, max_scale: float = 3.0) -> torch.Tensor:
    """Per-frame CFG scale of StreamingSVD's `LinearPredictionGuider`: frame 0 gets min_scale, the last max_scale."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    return torch.linspace(min_scale, max_scale, num_frames)
