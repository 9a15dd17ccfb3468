"""FreeNoise context windows: which frame spans are processed together, and how each span's frames are weighted.

Windows are (start, end) spans of `context_length` frames every `stride` frames, as in the official `get_views`.
When (F - context_length) is not a multiple of the stride the last frames are covered by one extra tail window
(F - context_length, F), the diffusers rule; the official scripts leave those frames uncovered.
"""
from __future__ import annotations

WEIGHTINGS = ("pyramid", "flat", "delayed_reverse_sawtooth")

# The near-zero weight diffusers gives the first half of a delayed_reverse_sawtooth window.
_SAWTOOTH_FLOOR = 0.01


def validate_window_args(context_length: int, stride: int) -> None:
    """Reject window settings that leave gaps between windows or make no sense."""
    if not isinstance(context_length, int) or context_length < 1:
        raise ValueError(f"context_length must be a positive whole number of frames, got {context_length!r}")
    if not isinstance(stride, int) or not 1 <= stride <= context_length:
        raise ValueError(
            f"stride must be a whole number between 1 and context_length ({context_length}), got {stride!r}; "
            "a larger stride would leave frames that no window covers"
        )


def validate_context(context_length: int, pe_max_len: int) -> None:
    """The motion module's positional table must be at least one window long (32 for mm_sd_v15_v2, 24 for v1)."""
    if not isinstance(context_length, int) or context_length < 1:
        raise ValueError(f"context_length must be a positive whole number of frames, got {context_length!r}")
    if context_length > pe_max_len:
        raise ValueError(
            f"context_length {context_length} exceeds the motion module's positional-embedding length {pe_max_len}: "
            f"expected a context length of at most {pe_max_len} frames for this motion module"
        )


def window_weights(length: int, scheme: str = "pyramid") -> list[float]:
    """Per-frame weights of one window of `length` frames.

    pyramid: 1..n/2, n/2..1 (odd n: 1..m..1 with m = (n+1)/2); flat: all ones;
    delayed_reverse_sawtooth: 0.01 for the first half, then n/2, n/2, n/2-1, ..., 1 (16 frames: 7 x 0.01, 8, 8, 7..1).
    For odd n the sawtooth is 0.01 x (m-1), then m, m-1, ..., 1, so it has exactly n entries (diffusers' own
    odd branch returns n+1 values, which its comment does not intend).
    """
    if not isinstance(length, int) or length < 1:
        raise ValueError(f"window length must be a positive whole number, got {length!r}")
    if scheme == "flat":
        return [1.0] * length
    half = (length + 1) // 2
    if scheme == "pyramid":
        rising = [float(i) for i in range(1, half + 1)]
        falling = rising[::-1] if length % 2 == 0 else rising[-2::-1]
        return rising + falling
    if scheme == "delayed_reverse_sawtooth":
        falling = [float(i) for i in range(half, 0, -1)]
        if length % 2 == 0:
            return [_SAWTOOTH_FLOOR] * (half - 1) + [float(half)] + falling
        return [_SAWTOOTH_FLOOR] * (half - 1) + falling
    raise ValueError(f"unknown weighting {scheme!r}; expected one of {', '.join(WEIGHTINGS)}")


def tail_length(num_frames: int, context_length: int, stride: int) -> int:
    """How many final frames no regular window reaches (0 when the windows end exactly at the last frame)."""
    if num_frames <= context_length:
        return 0
    return (num_frames - context_length) % stride


def context_windows(num_frames: int, context_length: int = 16, stride: int = 4) -> list[tuple[int, int]]:
    """[start, end) spans: (s, s + context_length) for s = 0, stride, ... <= F - context_length, plus the tail window.

    With F <= context_length there is a single window over all frames.
    """
    validate_window_args(context_length, stride)
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames must be a positive whole number, got {num_frames!r}")
    if num_frames <= context_length:
        return [(0, num_frames)]
    windows = [(s, s + context_length) for s in range(0, num_frames - context_length + 1, stride)]
    if tail_length(num_frames, context_length, stride):
        windows.append((num_frames - context_length, num_frames))
    return windows
