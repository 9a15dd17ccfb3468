"""Small synthetic videos for end-to-end tests (moving shapes, so interpolation has motion to follow)."""
from __future__ import annotations

import pathlib
from fractions import Fraction

import numpy as np


def moving_square_frames(num_frames: int, height: int, width: int, step: int = 3) -> np.ndarray:
    """uint8 [F,H,W,3]: a gradient background with a square moving right by `step` px per frame."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1), np.full_like(xx, 96)], -1)
    frames = np.repeat(base[None].astype(np.uint8), num_frames, axis=0)
    size = max(height // 4, 4)
    for i in range(num_frames):
        x0 = (4 + i * step) % max(width - size, 1)
        frames[i, height // 3: height // 3 + size, x0: x0 + size] = (250, 40, 40)
    return frames


def write_video(path: pathlib.Path, frames: np.ndarray, fps: int = 8) -> pathlib.Path:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(fps, 1))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "2"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def count_frames(path: pathlib.Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))
