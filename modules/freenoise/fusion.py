"""Window-fused temporal processing (FreeNoise "window-based attention fusion").

`fn` runs on each context window on its own, so inside a window frame positions restart at 0 (fn simply gets a
shorter sequence), and the window outputs are averaged per frame: out = sum(w * y) / sum(w).
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
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


@dataclass(frozen=True)
class WindowPlan:
    """The context windows of one (F, context_length, stride, weighting, tail_rule), laid out for batched fusion.

    Regular windows start at 0, stride, 2 * stride, ...; so a run of them is an unfold() view of the frames, and
    scattering their outputs back is one strided add per window position (no index tensors, no per-window loop).
    The tail window (F - length, F), when there is one, feeds only its last `tail` frames. inv_weight_sum [F] is
    1 / each frame's weight sum under the tail rule of fuse_windows.
    """

    num_frames: int
    length: int
    stride: int
    regular: int  # number of regular windows
    tail: int  # frames only the tail window reaches (0: no tail window)
    weights: tuple[float, ...]  # per window position
    inv_weight_sum: torch.Tensor

    @property
    def num_windows(self) -> int:
        return self.regular + (1 if self.tail else 0)

    def chunks(self, windows_per_chunk: int) -> list[tuple[int, int]]:
        """(first, count) runs of at most `windows_per_chunk` regular windows, then (regular, 1) for the tail window."""
        runs = [(first, min(windows_per_chunk, self.regular - first))
                for first in range(0, self.regular, windows_per_chunk)]
        return runs + [(self.regular, 1)] if self.tail else runs

    def gather(self, t: torch.Tensor, first: int, count: int, offset: torch.Tensor | None = None) -> torch.Tensor:
        """Windows first..first+count of t [N, F, C] as a new [N, count, w, C] tensor, plus offset [1, w, C] if given."""
        if first >= self.regular:  # the tail window
            windows = t[:, self.num_frames - self.length:].unsqueeze(1)
        else:
            span = t.narrow(1, first * self.stride, (count - 1) * self.stride + self.length)
            windows = span.unfold(1, self.length, self.stride).transpose(2, 3)  # a view: [N, count, w, C]
        if offset is None:
            return windows.contiguous()
        return windows + offset.unsqueeze(1)

    def scatter(self, acc: torch.Tensor, y: torch.Tensor, first: int) -> None:
        """acc [N, F, C] += weight * y for the windows first.. of y [N, count, w, C]."""
        if first >= self.regular:
            weights = torch.tensor(self.weights[-self.tail:], dtype=acc.dtype, device=acc.device).view(1, -1, 1)
            acc[:, self.num_frames - self.tail:].add_(y[:, 0, self.length - self.tail:] * weights)
            return
        count, start = y.shape[1], first * self.stride
        for position, weight in enumerate(self.weights):
            # Frames start + position + i * stride get window i's output at `position`.
            begin = start + position
            acc[:, begin:begin + (count - 1) * self.stride + 1:self.stride].add_(y[:, :, position], alpha=weight)

    def normalize(self, acc: torch.Tensor) -> torch.Tensor:
        """acc [N, F, ...] divided by each frame's weight sum, in place."""
        inv = self.inv_weight_sum.to(device=acc.device, dtype=acc.dtype)
        return acc.mul_(inv.view(1, -1, *([1] * (acc.dim() - 2))))


@functools.lru_cache(maxsize=64)
def window_plan(
    num_frames: int,
    context_length: int = 16,
    stride: int = 4,
    weighting: str = "pyramid",
    tail_rule: str = "normalized",
) -> WindowPlan:
    """The WindowPlan of F > context_length frames (cached per settings; inv_weight_sum lives on the CPU)."""
    validate_window_args(context_length, stride)
    if tail_rule not in TAIL_RULES:
        raise ValueError(f"unknown tail_rule {tail_rule!r}; expected one of {', '.join(TAIL_RULES)}")
    if not isinstance(num_frames, int) or num_frames <= context_length:
        raise ValueError(f"a window plan needs more frames than context_length ({context_length}), got {num_frames!r}")
    weights = window_weights(context_length, weighting)
    tail = tail_length(num_frames, context_length, stride)
    regular = (num_frames - context_length) // stride + 1
    weight_sum = torch.zeros(num_frames, dtype=torch.float64)
    for start in range(0, regular * stride, stride):
        weight_sum[start:start + context_length] += torch.tensor(weights, dtype=torch.float64)
    if tail:
        # Same tail rule as fuse_windows.
        counted = [weights[context_length - tail]] * tail if tail_rule == "diffusers" else weights[-tail:]
        weight_sum[num_frames - tail:] += torch.tensor(counted, dtype=torch.float64)
    return WindowPlan(num_frames, context_length, stride, regular, tail, tuple(weights), weight_sum.reciprocal().float())


# On the CPU, gathered chunks of about 1 MiB (fp32) stay in cache; measured 1.3-1.6x faster than input-sized chunks.
_CPU_GATHER_ELEMENTS = 1 << 18


def default_gather_budget(x: torch.Tensor) -> int:
    """Elements per gathered chunk: cache-sized on the CPU, the input's size elsewhere (few, large kernel calls)."""
    return min(x.numel(), _CPU_GATHER_ELEMENTS) if x.device.type == "cpu" else x.numel()


def windows_per_chunk(plan: WindowPlan, elements_per_frame: int, budget: int) -> int:
    """How many windows to gather at once so that one gathered tensor holds at most `budget` elements (at least 1).

    With budget = the input's element count, every gathered chunk is no larger than the input itself, so memory
    grows linearly with the frame count instead of with the number of overlapping windows."""
    return max(1, budget // max(1, elements_per_frame * plan.length))


def fuse_windows_batched(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    context_length: int = 16,
    stride: int = 4,
    weighting: str = "pyramid",
    tail_rule: str = "normalized",
    gather_budget: int | None = None,
) -> torch.Tensor:
    """fuse_windows along dim 1 of x [N, F, ...], with the windows stacked into fn's batch dimension.

    fn gets [N * windows, w, ...] (a chunk of windows at a time, at most `gather_budget` elements, default
    default_gather_budget(x))
    and must act on each sequence of the batch independently, which a motion block's attention stack does. Same
    result as fuse_windows, in a few calls instead of one per window.
    """
    if x.dim() < 3:
        raise ValueError(f"expected [batch, frames, ...] with at least 3 dimensions, got shape {tuple(x.shape)}")
    num_frames = x.shape[1]
    if num_frames <= context_length:
        validate_window_args(context_length, stride)
        return fn(x)
    plan = window_plan(num_frames, context_length, stride, weighting, tail_rule)
    batch = x.shape[0]
    flat = x.flatten(2)  # [N, F, C]: the gather and scatter work on one trailing dim
    per_chunk = windows_per_chunk(plan, batch * flat.shape[2], gather_budget or default_gather_budget(x))
    acc: torch.Tensor | None = None
    for first, count in plan.chunks(per_chunk):
        windows = plan.gather(flat, first, count).view(batch * count, context_length, *x.shape[2:])
        y = fn(windows)
        if y.shape[:2] != windows.shape[:2]:
            raise ValueError(
                f"the windowed function must keep the batch and frame dims: it got {tuple(windows.shape)} and "
                f"returned {tuple(y.shape)}"
            )
        if acc is None:
            acc_dtype = torch.promote_types(y.dtype, torch.float32)
            acc = torch.zeros((batch, num_frames, *y.shape[2:]), dtype=acc_dtype, device=y.device)
        plan.scatter(acc.view(batch, num_frames, -1), y.reshape(batch, count, context_length, -1), first)
    assert acc is not None
    logger.debug("fused %d frames in %d windows (%d per call)", num_frames, plan.num_windows, per_chunk)
    return plan.normalize(acc).to(x.dtype)
