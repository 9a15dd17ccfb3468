"""Flow of every frame against one reference frame, both directions, one frame at a time (FlowVid Sec. 4.2).

FlowVid conditions frame i on the first frame warped with the backward flow Fᵢ→₁ and masks it with the
forward–backward check, which also needs F₁→ᵢ. Outputs are allocated once on the CPU and filled frame by frame, so
memory beyond them is one frame pair on the estimator's device, whatever the clip length.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ..common import LoopHooks
from ..common.hooks import NO_HOOKS
from ..flowvid.warp import check_flow
from .dis import DisFlow
from .frames import check_frames

logger = logging.getLogger("FrameLoom.flow")

# (a, b) -> F_a→b: frames (B, C, H, W) in [0, 1] -> flow (B, 2, H, W) in pixels (channel 0 = dx, 1 = dy).
FlowEstimator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class VideoFlow:
    """Flow of a clip against its reference frame: what a FLOW link carries. CPU float32 tensors."""

    forward: torch.Tensor  # (N, 2, H, W) F_ref→i
    backward: torch.Tensor  # (N, 2, H, W) F_i→ref
    reference_index: int = 0
    method: str = ""

    def __post_init__(self) -> None:
        check_flow(self.forward, "forward")
        check_flow(self.backward, "backward")
        if self.forward.shape != self.backward.shape:
            raise ValueError(
                f"forward and backward flow must have the same shape; found {list(self.forward.shape)} "
                f"and {list(self.backward.shape)}"
            )
        if not 0 <= self.reference_index < self.forward.shape[0]:
            raise ValueError(f"reference_index {self.reference_index} is outside 0..{self.forward.shape[0] - 1}")

    @property
    def num_frames(self) -> int:
        return self.forward.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames the flow was estimated on."""
        return tuple(self.forward.shape[2:])


def flow_pairs(
    frames: torch.Tensor,
    reference_index: int = 0,
    estimator: Optional[FlowEstimator] = None,
    hooks: LoopHooks = NO_HOOKS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(forward F_ref→i, backward F_i→ref), each (N, 2, H, W) float32 on the CPU, for frames (N, C, H, W).

    `estimator` defaults to DIS at the medium preset. It is called once per frame with the two directions batched,
    estimator([ref, frame_i], [frame_i, ref]); the reference frame's own flow is exactly zero and not estimated.
    `hooks` get progress after every frame and a cancel point before it.
    """
    check_frames(frames)
    n = frames.shape[0]
    if not 0 <= reference_index < n:
        raise ValueError(f"reference_index must be in 0..{n - 1} for {n} frames; got {reference_index}")
    estimator = estimator if estimator is not None else DisFlow("medium")
    logger.debug("flow of %d frames (%dx%d) against frame %d", n, frames.shape[3], frames.shape[2], reference_index)
    forward = torch.zeros(n, 2, *frames.shape[2:], dtype=torch.float32)
    backward = torch.zeros_like(forward)
    reference = frames[reference_index : reference_index + 1]
    for i in range(n):
        hooks.cancel_point()
        if i != reference_index:
            frame = frames[i : i + 1]
            both = estimator(torch.cat([reference, frame]), torch.cat([frame, reference]))
            if both.shape != (2, 2, *frames.shape[2:]):
                raise ValueError(
                    f"the flow estimator returned shape {list(both.shape)}; expected {[2, 2, *frames.shape[2:]]}"
                )
            forward[i] = both[0].float().cpu()
            backward[i] = both[1].float().cpu()
        hooks.step(i + 1, n)
    return forward, backward
