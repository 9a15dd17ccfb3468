"""FreeNoise motion-injection schedule and the two-prompt cond1 interpolation."""
from __future__ import annotations

import pytest
import torch

from modules.freenoise import PER_FRAME, TARGET, motion_injection_plan, two_prompt_conditioning, two_prompt_weights


def _shared_steps(plan):
    return [i for i, step in enumerate(plan) if not step.injects]


def test_official_plan_at_50_steps():
    plan = motion_injection_plan(50)
    assert len(plan) == 50
    assert _shared_steps(plan) == list(range(5, 16))
    for i in (0, 4, 16, 49):
        assert plan[i] == (TARGET, TARGET, PER_FRAME)
    assert plan[5] == plan[15] == (PER_FRAME, PER_FRAME, PER_FRAME)
    assert all(step.output == PER_FRAME for step in plan)


@pytest.mark.parametrize("steps,shared", [(20, [2, 3, 4, 5, 6]), (25, [3, 4, 5, 6, 7]), (100, list(range(10, 31))), (3, [])])
def test_plan_scales_with_step_count(steps, shared):
    assert _shared_steps(motion_injection_plan(steps)) == shared


def test_plan_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_steps must be a positive whole number"):
        motion_injection_plan(0)
    with pytest.raises(ValueError, match="per_frame_first <= per_frame_last"):
        motion_injection_plan(20, per_frame_first=10, per_frame_last=5)


def test_two_prompt_weights_3_8_quarter_3_8():
    weights = two_prompt_weights(64)
    assert weights[:24] == [0.0] * 24 and weights[40:] == [1.0] * 24
    assert weights[24:40] == [i / 15 for i in range(16)]
    assert two_prompt_weights(10) == [0.0] * 3 + [0.0, 1 / 3, 2 / 3, 1.0] + [1.0] * 3
    assert two_prompt_weights(3) == [0.0, 0.5, 1.0]


def test_two_prompt_conditioning_follows_the_official_arithmetic():
    first = torch.randn(77, 8, generator=torch.Generator().manual_seed(0))
    second = torch.randn(77, 8, generator=torch.Generator().manual_seed(1))
    cond = two_prompt_conditioning(first, second, 64)
    assert cond.shape == (64, 77, 8)
    assert torch.equal(cond[:24], first.expand(24, 77, 8))
    assert torch.equal(cond[40:], second.expand(24, 77, 8))
    step = (second - first) / 15
    for i in range(16):
        assert torch.equal(cond[24 + i], first + step * i)
    with pytest.raises(ValueError, match="same shape"):
        two_prompt_conditioning(first, second[:10], 64)
