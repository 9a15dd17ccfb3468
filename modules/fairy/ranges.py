"""Splitting a long video over several workers (GPUs or servers) without changing the result.

The rule that makes joined results equal a single run:
1. every range uses the same anchors, chosen from the *full* video (`anchor_indices(num_frames, ...)`), and each
   worker repeats the anchor pass on exactly those frames (the anchor pass only sees anchors, so it is identical
   everywhere);
2. every range uses the same seed, and noise is drawn per frame from (seed, index in the full video, step)
   (`per_frame_noise`), never from the frame's position inside the range;
3. everything else (prompt, sampler, steps, CFG, model patches) is identical across workers.
A frame's output then depends only on its own input, the anchors and its global index, so ranges can be
processed anywhere, in any order, with any batch size.
"""
from __future__ import annotations

from dataclasses import dataclass

from .anchors import anchor_indices


@dataclass(frozen=True)
class RangeJob:
    """One worker's share: frames [start, end) of the full video, with the shared anchors and seed."""

    start: int
    end: int
    anchors: tuple[int, ...]
    seed: int

    @property
    def frames(self) -> range:
        return range(self.start, self.end)


def split_ranges(num_frames: int, parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous [start, end) ranges covering 0..num_frames; sizes differ by at most one, larger first."""
    if parts < 1:
        raise ValueError(f"parts must be at least 1, got {parts}")
    if num_frames < parts:
        raise ValueError(
            f"cannot split {num_frames} frames into {parts} non-empty ranges; use at most {num_frames} parts"
        )
    base, extra = divmod(num_frames, parts)
    ranges, start = [], 0
    for i in range(parts):
        end = start + base + (1 if i < extra else 0)
        ranges.append((start, end))
        start = end
    return ranges


def plan_ranges(num_frames: int, parts: int, seed: int, k: int = 3, rule: str = "segment_centers") -> list[RangeJob]:
    """Split into `parts` jobs that all carry the anchors of the full video and the same seed."""
    anchors = tuple(anchor_indices(num_frames, k, rule))
    return [RangeJob(start, end, anchors, seed) for start, end in split_ranges(num_frames, parts)]
