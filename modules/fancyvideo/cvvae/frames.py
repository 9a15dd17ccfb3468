"""Frame arithmetic of the CV-VAE (4x causal temporal, 8x spatial compression) and input-size checks."""
from __future__ import annotations

import logging

logger = logging.getLogger("FrameLoom.fancyvideo.cvvae")

TIME_COMPRESS = 4
SPATIAL_COMPRESS = 8


def latent_frames_for(num_frames: int, time_compress: int = TIME_COMPRESS) -> int:
    """Latent frames the encoder produces from `num_frames` frames: 1 + (T-1)//4 (trailing partial groups are dropped)."""
    if num_frames < 1:
        raise ValueError(f"a video needs at least 1 frame, got {num_frames}")
    return 1 + (num_frames - 1) // time_compress


def frames_for_latents(num_latents: int, time_compress: int = TIME_COMPRESS) -> int:
    """Frames the decoder produces from `num_latents` latent frames: 4L - 3 (latent 0 is the single causal first frame)."""
    if num_latents < 1:
        raise ValueError(f"need at least 1 latent frame, got {num_latents}")
    return time_compress * (num_latents - 1) + 1


def valid_frame_counts(max_frames: int, time_compress: int = TIME_COMPRESS) -> list[int]:
    """Frame counts the VAE reproduces exactly (4k+1) up to `max_frames`: 1, 5, 9, ..., 61, ..."""
    return list(range(1, max_frames + 1, time_compress))


def warn_if_inexact(num_frames: int, time_compress: int = TIME_COMPRESS) -> None:
    """Official behaviour: frames past the last complete group of 4 are silently not encoded; we keep it but say so."""
    used = frames_for_latents(latent_frames_for(num_frames, time_compress), time_compress)
    if used != num_frames:
        logger.info(
            "CV-VAE: %d frames is not of the form %dk+1; the last %d frame(s) are not encoded (only frames 0..%d). "
            "Exact counts near it: %d or %d.",
            num_frames, time_compress, num_frames - used, used - 1, used, used + time_compress,
        )


def check_spatial_size(height: int, width: int, multiple: int, what: str = "video") -> None:
    """H and W must be multiples of the spatial compression; the error names the nearest valid sizes."""
    bad = []
    for name, size in (("height", height), ("width", width)):
        if size < multiple or size % multiple:
            lower = max(multiple, size // multiple * multiple)
            upper = max(multiple, -(-size // multiple) * multiple)
            options = f"{lower}" if lower == upper else f"{lower} or {upper}"
            bad.append(f"{name} {size} (use {options})")
    if bad:
        raise ValueError(f"CV-VAE {what} {', '.join(bad)}: height and width must be multiples of {multiple}")
