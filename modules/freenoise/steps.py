"""Which sampling step a model evaluation belongs to, from its sigma and the run's sigma schedule.

Samplers evaluate the model at the schedule's sigmas and, for multi-stage samplers (Heun, DPM-2, SDE variants),
also between them. An evaluation belongs to step i when its sigma lies in (sigmas[i + 1], sigmas[i]]: one at exactly
sigmas[i] is step i (so Heun's corrector at sigmas[i + 1] already counts as step i + 1), one between two schedule
points counts with the step that contains it.
"""
from __future__ import annotations

from typing import Sequence

# Relative slack for sigmas that went through a dtype cast on their way to the model.
_REL_TOL = 1e-4


def step_index(sigma: float, schedule: Sequence[float]) -> int:
    """0-based step of an evaluation at `sigma` in a descending `schedule` of N + 1 sigmas (the last is often 0).

    Returns a value in 0..N-1; sigmas above the first entry count as step 0, at or below the last as step N-1.
    """
    sigmas = [float(s) for s in schedule]
    if len(sigmas) < 2:
        raise ValueError(f"a sigma schedule needs at least 2 entries (one step), got {len(sigmas)}")
    sigma = float(sigma)
    steps = len(sigmas) - 1
    for i in range(steps - 1, -1, -1):
        if sigmas[i] >= sigma * (1.0 - _REL_TOL):
            return i
    return 0
