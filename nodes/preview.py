"""Animated previews of IMAGE batches for the node UI: a small looping WebP in ComfyUI's temp folder.

The file is listed under our own UI key (PREVIEW_KEY) rather than ComfyUI's "images", so the frontend's stock image
preview does not draw it a second time; web/js/ shows it on the node. Bounded work whatever the batch length: at most
`max_frames` evenly sampled frames, downscaled one at a time to `max_side` on the long side and streamed into the
encoder, so the full-size video is never copied.
"""
from __future__ import annotations

import logging
import math
import os
from fractions import Fraction

import torch
import torch.nn.functional as F

import folder_paths
from comfy_api.latest import io, ui

logger = logging.getLogger("FrameLoom.preview")

PREVIEW_KEY = "frameloom_preview"  # web/js/preview_data.js reads the same key
MAX_SIDE = 512
MAX_FRAMES = 120
# Browsers stretch animation frames shorter than ~11 ms to 100 ms, so a 96 fps preview would crawl: cap the rate.
MAX_RATE = 50.0
_MIME = "image/webp"


def sample_indices(total: int, max_frames: int = MAX_FRAMES) -> list[int]:
    """`total` frame indices when they fit, else `max_frames` spread evenly from the first frame to the last."""
    if total < 1 or max_frames < 1:
        raise ValueError(f"expected at least one frame and max_frames >= 1, got total={total}, max_frames={max_frames}")
    if total <= max_frames:
        return list(range(total))
    if max_frames == 1:
        return [0]
    step = (total - 1) / (max_frames - 1)
    return [round(i * step) for i in range(max_frames)]


def preview_timing(total: int, fps: float, max_frames: int = MAX_FRAMES) -> tuple[list[int], float]:
    """Which frames to show and at what rate: at most `max_frames` frames and MAX_RATE fps, same duration as the video."""
    keep = min(total, max_frames, max(1, math.floor(total * MAX_RATE / fps)))
    indices = sample_indices(total, keep)
    return indices, fps * len(indices) / total


def preview_size(height: int, width: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """(height, width) scaled down, never up, so the long side is at most `max_side`; aspect ratio kept."""
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _small_rgb8(frame: torch.Tensor, size: tuple[int, int]):
    """One [H,W,C] float frame in 0..1 -> uint8 RGB numpy array of `size`; only the small result is materialised."""
    chw = frame[..., :3].movedim(-1, 0).unsqueeze(0).float()
    if chw.shape[1] == 1:
        chw = chw.expand(-1, 3, -1, -1)  # grey IMAGE batches still preview in colour space
    if tuple(chw.shape[-2:]) != size:
        # antialias keeps fine detail from aliasing into moire when a 4K frame shrinks to 512 px
        chw = F.interpolate(chw, size=size, mode="bilinear", antialias=True, align_corners=False)
    return (chw[0].clamp(0, 1) * 255).round().to(torch.uint8).movedim(0, -1).cpu().numpy()


def _check(images: torch.Tensor, fps: float) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        found = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"preview expects an IMAGE batch [frames, H, W, 1|3|4], got {found}")
    if images.shape[0] < 1 or images.shape[1] < 1 or images.shape[2] < 1:
        raise ValueError(f"preview expects at least one non-empty frame, got shape {tuple(images.shape)}")
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"preview expects a positive frame rate, got {fps!r}")


def _encode_webp(path: str, images: torch.Tensor, indices: list[int], size: tuple[int, int], fps: float) -> None:
    import av

    with av.open(path, mode="w", format="webp", options={"loop": "0"}) as container:  # loop 0 = forever
        stream = container.add_stream("libwebp_anim", rate=max(Fraction(fps).limit_denominator(1000), Fraction(1, 1000)))
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"quality": "80", "compression_level": "2"}  # a preview: speed over the last few bytes
        for index in indices:
            frame = av.VideoFrame.from_ndarray(_small_rgb8(images[index], size), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def animated_preview(
    images: torch.Tensor,
    fps: float,
    prefix: str,
    max_side: int = MAX_SIDE,
    max_frames: int = MAX_FRAMES,
) -> dict | None:
    """Write a looping WebP preview of `images` to the temp folder; return the node's UI dict, or None if encoding failed.

    The preview keeps the video's duration: when frames are sampled its frame rate drops in proportion. A failed
    encode (a codec missing from the user's PyAV build, a full disk) is logged and yields no preview rather than
    failing a node whose real output is already computed.
    """
    _check(images, fps)
    indices, rate = preview_timing(images.shape[0], fps, max_frames)
    size = preview_size(images.shape[1], images.shape[2], max_side)
    folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(
        prefix, folder_paths.get_temp_directory(), size[1], size[0]
    )
    filename = f"{name}_{counter:05}_.webp"
    path = os.path.join(folder, filename)
    import av  # ComfyUI's own video dependency; imported here so loading the nodes stays light

    try:
        _encode_webp(path, images, indices, size, rate)
    except (av.FFmpegError, av.codec.codec.UnknownCodecError, OSError) as err:
        logger.warning("no animated preview for %s: %s", prefix, err)
        if os.path.exists(path):
            os.remove(path)
        return None
    entry = ui.SavedResult(filename, subfolder, io.FolderType.temp)
    entry.update(format=_MIME, frame_rate=rate, frame_count=len(indices), source_frames=int(images.shape[0]),
                 width=size[1], height=size[0])
    return {PREVIEW_KEY: [entry]}
