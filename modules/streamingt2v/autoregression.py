"""Which autoregressive runs an extension performs, where their frames go, and the seed of each run.

The source clip counts as the runs that already made it: a 16-frame clip is run 0, and an earlier output of
16 + 8·j frames stands for runs 0..j, so extending a clip to 56 frames and that result on to 80 makes the same
frames as one extension to 80 (each run's seed depends only on the seed and the run's index).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .bookkeeping import (
    MS_CHUNK,
    MS_COND,
    check_ms_length,
    ms_autoreg_runs,
    ms_kept_frames,
    ms_output_frames,
    ms_output_offset,
    reachable_lengths,
)

SEED_BITS = 63  # torch.manual_seed takes any value below 2**64; 63 bits also fit a signed int64


@dataclass(frozen=True)
class ExtensionPlan:
    source_frames: int
    total_frames: int
    first_run: int  # the first run to generate (runs before it come from the source clip)
    runs: int  # runs in the finished video, the source clip's included

    @property
    def new_runs(self) -> range:
        return range(self.first_run, self.runs)

    def output_slice(self, run: int) -> slice:
        """Where run `run`'s kept frames (frames 8..15 of its chunk) go in the output video."""
        start = ms_output_offset(run)
        kept = ms_kept_frames(run)
        return slice(start, start + kept.stop - kept.start)

    def condition_slice(self, run: int) -> slice:
        """The output frames that condition run `run` through CAM: the last 8 frames made before it."""
        start = ms_output_offset(run)
        return slice(start - MS_COND, start)


def plan_extension(source_frames: int, total_frames: int) -> ExtensionPlan:
    """Plan extending a clip of `source_frames` frames to exactly `total_frames` frames (both 16 + 8·k)."""
    if source_frames < MS_CHUNK:
        raise ValueError(f"StreamingT2V extends a clip of at least {MS_CHUNK} frames; the input has {source_frames}")
    source_runs = ms_autoreg_runs(source_frames)
    if ms_output_frames(source_runs) != source_frames:
        below = reachable_lengths(source_frames)[0]
        raise ValueError(
            f"the input clip has {source_frames} frames, but StreamingT2V continues a clip of 16 + 8·k frames "
            f"(16, or an earlier StreamingT2V result); trim it to its first {below} frames"
        )
    if total_frames < source_frames:
        raise ValueError(f"total_frames ({total_frames}) is shorter than the input clip ({source_frames} frames)")
    runs = check_ms_length(total_frames)
    return ExtensionPlan(source_frames, total_frames, source_runs, runs)


def chunk_seed(seed: int, run: int) -> int:
    """The noise seed of run `run`, derived from the node's seed: a hash, so neighbouring seeds share no chunks."""
    if seed < 0 or run < 0:
        raise ValueError(f"seed and run must be non-negative; got seed {seed}, run {run}")
    digest = hashlib.sha256(f"frameloom.streamingt2v:{seed}:{run}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> (64 - SEED_BITS)
