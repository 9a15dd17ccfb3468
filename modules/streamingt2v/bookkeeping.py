"""Frame counts of the autoregressive runs (StreamingModelscope and StreamingSVD) and which frames a run keeps.

StreamingModelscope: the first run is the 16-frame input clip; every later run generates 16 frames conditioned
(CAM) on the previous run's last 8 and keeps its frames 8..15, so n runs give 16 + 8·(n-1) frames.
StreamingSVD: runs of 25 frames at half the requested length, each conditioned on the previous run's last 7 frames
(those 7 are dropped), then EMA-VFI doubles the frame rate back to the requested length.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

MS_CHUNK = 16
MS_COND = 8
SVD_CHUNK = 25
SVD_COND = 7


def ms_autoreg_runs(num_frames: int) -> int:
    """Official `n_autoreg_gen = (num_frames - 8) // 8`, a count that includes the initial 16-frame clip."""
    if num_frames < MS_CHUNK:
        raise ValueError(f"StreamingT2V makes at least {MS_CHUNK} frames; {num_frames} were requested")
    return (num_frames - MS_COND) // MS_COND


def ms_output_frames(runs: int) -> int:
    """Frames that `runs` autoregressive runs produce: 16 + 8·(runs-1)."""
    if runs < 1:
        raise ValueError(f"at least one run (the initial clip) is needed, got {runs}")
    return MS_CHUNK + (MS_CHUNK - MS_COND) * (runs - 1)


def reachable_lengths(near: int) -> list[int]:
    """The reachable StreamingModelscope totals nearest to `near`: [near] itself, or the one below and the one above."""
    if near <= MS_CHUNK:
        return [MS_CHUNK]
    step = MS_CHUNK - MS_COND
    below = MS_CHUNK + (near - MS_CHUNK) // step * step
    return [near] if below == near else [below, below + step]


def check_ms_length(num_frames: int) -> int:
    """Runs for exactly `num_frames` frames; an unreachable length is an error naming the nearest reachable ones.

    (The official code silently returns fewer frames, e.g. 16 for a request of 20.)
    """
    runs = ms_autoreg_runs(num_frames)
    if ms_output_frames(runs) != num_frames:
        options = " or ".join(str(n) for n in reachable_lengths(num_frames))
        raise ValueError(f"StreamingT2V cannot make exactly {num_frames} frames (16 + 8·k); use {options}")
    return runs


def ms_kept_frames(run: int) -> slice:
    """Frames of run `run`'s 16-frame chunk that go into the video: all of run 0, frames 8..15 afterwards."""
    return slice(0, MS_CHUNK) if run == 0 else slice(MS_COND, MS_CHUNK)


def ms_output_offset(run: int) -> int:
    """Where run `run`'s kept frames start in the output video."""
    return 0 if run == 0 else MS_CHUNK + (MS_CHUNK - MS_COND) * (run - 1)


@dataclass(frozen=True)
class SVDPlan:
    generated_before_vfi: int
    n_autoregressive_generations: int
    raw_frames: int
    after_vfi: int


def svd_plan(num_frames: int) -> SVDPlan:
    """StreamingSVD: half-rate length, extra 25-frame runs (each adds 18 new frames), frames generated, final length."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    half = (num_frames + 1) // 2
    runs = max(0, math.ceil((half - SVD_CHUNK) / (SVD_CHUNK - SVD_COND)))
    return SVDPlan(half, runs, SVD_CHUNK + (SVD_CHUNK - SVD_COND) * runs, num_frames)
