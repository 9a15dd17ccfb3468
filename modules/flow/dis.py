"""DIS optical flow (Kroeger et al. 2016) through OpenCV: no weights, CPU, fast enough for long clips.

OpenCV is imported lazily, on the first estimate, so the package imports without it; the error then names the
package to install. DIS works on 8-bit grayscale; colour frames are converted with the BT.601 luma weights that
OpenCV's RGB2GRAY uses.
"""
from __future__ import annotations

import logging
from types import ModuleType

import numpy as np
import torch

from .frames import check_frames

logger = logging.getLogger("FrameLoom.flow")

DIS_PRESETS = ("ultrafast", "fast", "medium")
_LUMA = (0.299, 0.587, 0.114)


def require_cv2() -> ModuleType:
    """The cv2 module, or an ImportError that says which package provides it."""
    try:
        import cv2
    except ImportError as exc:
        raise ImportError(
            "DIS optical flow needs OpenCV, which is not installed in this Python environment. Install it with "
            "'pip install opencv-python-headless' (or keep an existing opencv-python / opencv-contrib-python; "
            f"any of them provides cv2). Import error: {exc}"
        ) from exc
    return cv2


def to_gray_uint8(frame: torch.Tensor) -> np.ndarray:
    """One frame (C, H, W), float in [0, 1] or uint8, -> contiguous (H, W) uint8 luma."""
    x = frame.detach().to("cpu", torch.float32)
    if frame.dtype != torch.uint8:
        x = x * 255.0
    if x.shape[0] == 3:
        x = _LUMA[0] * x[0] + _LUMA[1] * x[1] + _LUMA[2] * x[2]
    else:
        x = x[0]
    return np.ascontiguousarray(x.round().clamp(0, 255).to(torch.uint8).numpy())


class DisFlow:
    """A flow estimator (a, b) -> F_a→b with OpenCV's DIS at one preset; the OpenCV object is built on first use."""

    def __init__(self, preset: str = "medium") -> None:
        if preset not in DIS_PRESETS:
            raise ValueError(f"unknown DIS preset '{preset}'; expected one of {', '.join(DIS_PRESETS)}")
        self.preset = preset
        self._dis = None

    def _instance(self):
        if self._dis is None:
            cv2 = require_cv2()
            self._dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{self.preset.upper()}"))
            logger.debug("DIS %s preset (OpenCV %s)", self.preset, cv2.__version__)
        return self._dis

    def __call__(self, frames_a: torch.Tensor, frames_b: torch.Tensor) -> torch.Tensor:
        """(N, 2, H, W) float32 CPU flow from each a to its b (b may be a single frame used for every a).

        Channel 0 = dx, 1 = dy, in pixels: pixel p of a shows up at p + F(p) in b, so warping b backward with F
        (modules.flowvid.warp_backward) reproduces a.
        """
        check_frames(frames_a, "frames_a")
        check_frames(frames_b, "frames_b")
        n = frames_a.shape[0]
        if frames_b.shape[2:] != frames_a.shape[2:] or frames_b.shape[0] not in (1, n):
            raise ValueError(
                f"frames_b must match frames_a's size with the same batch or a batch of 1; "
                f"found {list(frames_a.shape)} and {list(frames_b.shape)}"
            )
        dis = self._instance()
        out = torch.empty(n, 2, *frames_a.shape[2:], dtype=torch.float32)
        gray_b = to_gray_uint8(frames_b[0]) if frames_b.shape[0] == 1 else None
        for k in range(n):
            target = gray_b if gray_b is not None else to_gray_uint8(frames_b[k])
            flow = dis.calc(to_gray_uint8(frames_a[k]), target, None)  # (H, W, 2) float32
            out[k] = torch.from_numpy(flow).permute(2, 0, 1)
        return out


def dis_flow(frames_a: torch.Tensor, frames_b: torch.Tensor, preset: str = "medium") -> torch.Tensor:
    """DIS flow F_a→b for each pair, (N, 2, H, W) in pixels; see DisFlow.__call__ for the convention."""
    return DisFlow(preset)(frames_a, frames_b)
