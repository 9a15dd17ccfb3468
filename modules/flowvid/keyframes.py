"""FlowVid's keyframe schedule for long videos (Sec. 4.3).

Keyframes are every `interval`-th frame (0, 4, 8, ...). The model generates `per_batch` keyframes at a time; the
last keyframe of batch b is the first keyframe of batch b+1, which conditions the next batch on what was just
generated (120 frames: 16 + 15 = 31 keyframes). RIFE then fills the frames between consecutive keyframes.

Tail rule: the last frame is always a keyframe. When (num_frames − 1) is not a multiple of `interval`, the final
interpolation gap is shorter than `interval` (e.g. 116 → 119), never longer, so no frame is extrapolated. The last
batch holds whatever keyframes remain (at least 2), so it may be shorter than `per_batch`.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InterpolationGap:
    """Frames strictly between keyframes `start` and `end`, each with its RIFE timestep in (0, 1)."""

    start: int
    end: int

    @property
    def frames(self) -> list[int]:
        return list(range(self.start + 1, self.end))

    @property
    def timesteps(self) -> list[float]:
        return [(f - self.start) / (self.end - self.start) for f in self.frames]


def keyframe_indices(num_frames: int, interval: int = 4) -> list[int]:
    """Every `interval`-th frame from 0, plus the last frame."""
    if num_frames < 1:
        raise ValueError(f"the video needs at least 1 frame, got {num_frames}")
    if interval < 1:
        raise ValueError(f"keyframe interval must be at least 1, got {interval}")
    keys = list(range(0, num_frames, interval))
    if keys[-1] != num_frames - 1:
        keys.append(num_frames - 1)
    return keys


def keyframe_batches(num_frames: int, interval: int = 4, per_batch: int = 16) -> list[list[int]]:
    """Keyframes grouped into generation batches that overlap by one keyframe."""
    if per_batch < 2:
        raise ValueError(f"a batch needs at least 2 keyframes to overlap by one, got per_batch={per_batch}")
    keys = keyframe_indices(num_frames, interval)
    if len(keys) == 1:
        return [keys]
    stride = per_batch - 1
    return [keys[i : i + per_batch] for i in range(0, len(keys) - 1, stride)]


def interpolation_gaps(num_frames: int, interval: int = 4) -> list[InterpolationGap]:
    """The gaps RIFE fills: one per pair of consecutive keyframes that are not adjacent frames."""
    keys = keyframe_indices(num_frames, interval)
    return [InterpolationGap(a, b) for a, b in zip(keys, keys[1:]) if b - a > 1]
