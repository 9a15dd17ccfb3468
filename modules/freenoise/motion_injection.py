"""FreeNoise motion injection (multi-prompt), as data: which prompt each UNet block group sees at each step.

Read literally from the official sampler (AILab-CVC/FreeNoise ddim_mp.py, 50 DDIM steps, step i = 0 is the noisiest):
for i < 5 or i > 15 the spatial cross-attention of the input and middle blocks uses the *target* prompt (the last
prompt for all frames, `cond2`) while the output blocks use the *per-frame* interpolated prompts (`cond1`); for
5 <= i <= 15 every block uses the per-frame prompts. The unconditional branch never injects.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

TARGET = "target"
PER_FRAME = "per_frame"
BLOCK_GROUPS = ("input", "middle", "output")


class StepPrompts(NamedTuple):
    """Prompt source (TARGET or PER_FRAME) of each block group's cross-attention at one sampling step."""

    input: str
    middle: str
    output: str

    @property
    def injects(self) -> bool:
        return self.input == TARGET or self.middle == TARGET


_INJECT = StepPrompts(TARGET, TARGET, PER_FRAME)
_SHARED = StepPrompts(PER_FRAME, PER_FRAME, PER_FRAME)


def motion_injection_plan(
    num_steps: int,
    *,
    reference_steps: int = 50,
    per_frame_first: int = 5,
    per_frame_last: int = 15,
) -> list[StepPrompts]:
    """One StepPrompts per sampling step (index 0 = first, noisiest step).

    Scaling rule for other step counts: step i of N belongs to the all-per-frame span when its progress i/N lies
    in [per_frame_first / reference_steps, per_frame_last / reference_steps] (both ends included), i.e.
    per_frame_first * N <= i * reference_steps <= per_frame_last * N in exact integers. At 50 steps that is
    steps 5..15, the official schedule; at 20 steps it is 2..6; at 25 steps 3..7. Very short schedules can have
    no such step (at 3 steps the span [0.3, 0.9] holds none).
    """
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive whole number, got {num_steps!r}")
    if not 0 <= per_frame_first <= per_frame_last < reference_steps:
        raise ValueError(
            f"expected 0 <= per_frame_first <= per_frame_last < reference_steps, got {per_frame_first}, "
            f"{per_frame_last}, {reference_steps}"
        )
    return [
        _SHARED if per_frame_first * num_steps <= i * reference_steps <= per_frame_last * num_steps else _INJECT
        for i in range(num_steps)
    ]


def _two_prompt_spans(num_frames: int) -> tuple[int, int]:
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames must be a positive whole number, got {num_frames!r}")
    hold = num_frames * 3 // 8  # frames held at each end
    return hold, num_frames - 2 * hold


def two_prompt_weights(num_frames: int) -> list[float]:
    """Per-frame weight of the second prompt in cond1: 0 for the first 3F/8 frames (floor), a linear ramp from 0 to 1
    over the middle (about F/4) frames, 1 for the last 3F/8. A single middle frame (F = 1 or 3), where the official
    code divides by zero, gets 0.5."""
    hold, ramp = _two_prompt_spans(num_frames)
    middle = [0.5] if ramp == 1 else [i / (ramp - 1) for i in range(ramp)]
    return [0.0] * hold + middle + [1.0] * hold


def two_prompt_conditioning(first: torch.Tensor, second: torch.Tensor, num_frames: int) -> torch.Tensor:
    """cond1 of the official multi-prompt sampler: [num_frames, *first.shape], built with its arithmetic
    (first + (second - first) / (ramp - 1) * i over the middle frames)."""
    if first.shape != second.shape:
        raise ValueError(
            f"both prompts' conditioning must have the same shape, got {tuple(first.shape)} and {tuple(second.shape)}"
        )
    hold, ramp = _two_prompt_spans(num_frames)
    out = first.new_empty((num_frames, *first.shape))
    out[:hold] = first
    out[num_frames - hold:] = second
    if ramp == 1:
        out[hold] = torch.lerp(first, second, 0.5)
    else:
        step = (second - first) / (ramp - 1)
        for i in range(ramp):
            out[hold + i] = first + step * i
    return out
