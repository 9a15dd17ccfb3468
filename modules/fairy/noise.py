"""Noise that depends on (seed, frame index, step) only, never on how frames are batched.

Fairy's frames can be processed in any grouping (1, 5 or 24 at a time, or on several servers) and must give the
same result. A single generator drawing for a whole batch breaks that: frame 7's noise would depend on how many
frames were drawn before it. Here every frame gets its own CPU generator whose seed is a hash of
(seed, frame index, step), so frame 7 always receives the same numbers, on every device.
"""
from __future__ import annotations

import hashlib
from typing import Callable, Optional, Sequence

import torch

_DOMAIN = b"FrameLoom.fairy.noise.v1"


def frame_seed(seed: int, frame_index: int, step: Optional[int] = None) -> int:
    """A 64-bit generator seed for one frame; step=None is the initial latent noise, step=i the i-th step's noise."""
    tag = "init" if step is None else f"step{int(step)}"
    digest = hashlib.blake2b(f"{int(seed)}:{int(frame_index)}:{tag}".encode(), digest_size=8, key=_DOMAIN).digest()
    # torch.Generator.manual_seed takes any value in [0, 2**64).
    return int.from_bytes(digest, "little")


def per_frame_noise(
    shape_per_frame: Sequence[int],
    frame_indices: Sequence[int],
    seed: int,
    step: Optional[int] = None,
    shared: bool = False,
    dtype: torch.dtype = torch.float32,
    device: Optional[torch.device] = None,
) -> torch.Tensor:
    """Standard normal noise of shape (len(frame_indices), *shape_per_frame).

    Row j depends only on (seed, frame_indices[j], step). shared=True gives every frame the noise of frame 0 (the
    "same seed for every frame" variant), still per step. Drawn in float32 on the CPU, then moved, so GPU and CPU
    runs start from identical noise.
    """
    shape = tuple(int(s) for s in shape_per_frame)
    if any(s < 1 for s in shape):
        raise ValueError(f"shape_per_frame must be positive sizes, got {list(shape_per_frame)}")
    if len(frame_indices) == 0:
        raise ValueError("frame_indices is empty; expected at least one frame index")
    if any(int(i) < 0 for i in frame_indices):
        raise ValueError(f"frame indices must be >= 0 (indices in the full video), got {list(frame_indices)}")
    rows = []
    generator = torch.Generator(device="cpu")
    for index in frame_indices:
        generator.manual_seed(frame_seed(seed, 0 if shared else int(index), step))
        rows.append(torch.randn(shape, generator=generator, dtype=torch.float32))
    return torch.stack(rows).to(device=device, dtype=dtype)


def step_noise_sampler(
    sigmas: torch.Tensor,
    shape_per_frame: Sequence[int],
    frame_indices: Sequence[int],
    seed: int,
    shared: bool = False,
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A `noise_sampler(sigma, sigma_next)` for k-diffusion style ancestral samplers.

    The sampler passes sigmas, not step numbers; the step is the position of `sigma` in the schedule, so the anchor
    pass and every frame pass draw the step noise of the same step.
    """
    schedule = [float(s) for s in torch.as_tensor(sigmas).flatten()]

    def sample(sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        value = float(sigma)
        matches = [i for i, s in enumerate(schedule) if abs(s - value) <= 1e-6 * max(1.0, abs(s))]
        if not matches:
            raise ValueError(
                f"sigma {value:.6g} is not in the sampling schedule {schedule}; "
                "build the noise sampler from the sigmas actually sampled"
            )
        noise = per_frame_noise(shape_per_frame, frame_indices, seed, step=matches[0], shared=shared)
        return noise.to(device=torch.as_tensor(sigma).device)

    return sample
