"""Which frames serve as Fairy's anchors.

The paper picks K anchors "uniformly with equal intervals among all frames" without the exact rule, so two
conventions are offered. Both are computed in exact rational arithmetic so that long videos never land on the
wrong side of a rounding boundary through float error.
"""
from __future__ import annotations

from fractions import Fraction

ANCHOR_RULES = ("segment_centers", "linspace_with_endpoints")


def anchor_indices(num_frames: int, k: int = 3, rule: str = "segment_centers") -> list[int]:
    """K distinct, increasing frame indices spread over `num_frames` frames.

    * ``segment_centers`` (default): split the video into K equal segments and take floor of each centre,
      floor((2i+1)·N / 2K). It keeps anchors away from the first/last frame, which suits short clips.
    * ``linspace_with_endpoints``: round(i·(N−1)/(K−1)), first and last frame included; halves round to even
      (NumPy's ``linspace(...).round()``). With K = 1 this is frame 0.
    """
    if rule not in ANCHOR_RULES:
        raise ValueError(f"unknown anchor rule '{rule}'; expected one of {', '.join(ANCHOR_RULES)}")
    if k < 1:
        raise ValueError(f"the number of anchors must be at least 1, got k={k}")
    if num_frames < k:
        raise ValueError(f"{k} anchors need at least {k} frames, but the video has {num_frames}")
    if rule == "segment_centers":
        return [(2 * i + 1) * num_frames // (2 * k) for i in range(k)]
    if k == 1:
        return [0]
    # Anchor spacing is >= 1 whenever num_frames >= k, so rounding keeps the indices distinct.
    return [round(Fraction(i * (num_frames - 1), k - 1)) for i in range(k)]
