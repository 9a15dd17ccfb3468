"""Window-fused temporal processing (FreeNoise "window-based attention fusion").

`fn` runs on each context window on its own, so inside a window frame positions restart at 0 (fn simply gets a
shorter sequence), and the window outputs are averaged per frame: out = sum(w * y) / sum(w).
"""
from __future__ import annotations

import logging
from typing import Callable

import torch

from .windows import context_windows, tail_length, validate_window_args, window_weights

logger = logging.getLogger("FrameLoom.freenoise")

TAIL_RULES = ("normalized", "diffusers")


def _along(values: torch.Tensor, ndim: int, frame_dim: int) -> torch.Tensor:
    """A 1-D per-frame tensor shaped to broadcast along `frame_dim` of an `ndim`-d tensor."""
    shape = [1] * ndim
    shape[frame_dim] = values.numel()
    return values.view(shape)


def fuse_windows(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    context_length: int = 16,
    stride: int = 4,
    weighting: str = "pyramid",
    frame_dim: int = 1,
    tail_rule: str = "normalized",
) -> torch.Tensor:
    """Run `fn` per context window of `x` along `frame_dim` and fuse the outputs with per-frame window weights.

    `fn` must return a tensor with as many frames as it was given (other dims may differ from x's).
    With F <= context_length, fn runs once on all frames and its output is returned unchanged.

    Tail window: when the regular windows stop L frames short of F (0 < L < stride), the extra window
    (F - context_length, F) contributes its last L outputs, times their weights w[-L:], to those L frames only; the
    frames it shares with regular windows ignore it. `tail_rule` says what is added to those frames' weight sums:
    * "normalized" (default): w[-L:], so every frame is a true weighted mean (identical window outputs pass through
      unchanged);
    * "diffusers": the single value w[context_length - L] for all L frames, the diffusers 0.42.1 quirk that the
      reference vector encodes. With pyramid or sawtooth weights and L >= 2 it scales the last frames down (for
      L = 2 the last frame gets half of its value), so use it only for parity with diffusers.
    """
    validate_window_args(context_length, stride)
    if tail_rule not in TAIL_RULES:
        raise ValueError(f"unknown tail_rule {tail_rule!r}; expected one of {', '.join(TAIL_RULES)}")
    if x.dim() == 0:
        raise ValueError("fuse_windows expected a tensor with a frame dimension, got a scalar")
    frame_dim = frame_dim % x.dim()
    num_frames = x.shape[frame_dim]
    if num_frames <= context_length:
        return fn(x)

    windows = context_windows(num_frames, context_length, stride)
    tail = tail_length(num_frames, context_length, stride)
    # Accumulate in at least fp32 so half-precision runs do not lose the small weighted contributions.
    acc_dtype = torch.promote_types(x.dtype, torch.float32)
    weights = torch.tensor(window_weights(context_length, weighting), dtype=acc_dtype, device=x.device)
    weight_sum = torch.zeros(num_frames, dtype=acc_dtype, device=x.device)
    acc: torch.Tensor | None = None
    logger.debug("fusing %d frames in %d windows (tail %d)", num_frames, len(windows), tail)

    for index, (start, end) in enumerate(windows):
        y = fn(x.narrow(frame_dim, start, end - start))
        if y.dim() != x.dim() or y.shape[frame_dim] != end - start:
            raise ValueError(
                f"the windowed function must keep the frame count: it got {end - start} frames along dim {frame_dim} "
                f"and returned shape {tuple(y.shape)}"
            )
        if acc is None:
            shape = list(y.shape)
            shape[frame_dim] = num_frames
            acc = torch.zeros(shape, dtype=acc_dtype, device=y.device)
        if tail and index == len(windows) - 1:
            y_tail = y.narrow(frame_dim, context_length - tail, tail)
            w_tail = weights[context_length - tail:]
            acc.narrow(frame_dim, num_frames - tail, tail).add_(y_tail * _along(w_tail, y.dim(), frame_dim))
            weight_sum[num_frames - tail:] += weights[context_length - tail] if tail_rule == "diffusers" else w_tail
        else:
            acc.narrow(frame_dim, start, end - start).add_(y * _along(weights, y.dim(), frame_dim))
            weight_sum[start:end] += weights

    assert acc is not None  # windows is never empty here
    return acc.div_(_along(weight_sum, acc.dim(), frame_dim)).to(x.dtype)
