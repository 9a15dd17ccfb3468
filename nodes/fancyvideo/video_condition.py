"""Video extending / backtracking conditioning: a reference clip's first 16 latents fixed at the start or end of 32.

Official pipeline (video_expansion_process_one_prompt): every frame of the reference video is resized (short side to
min(H, W)), centre-cropped, encoded by the video VAE (x0.18215), and latents 0-15 go to frames 0-15 (extending) or
16-31 (backtracking) with mask 1 there; the model runs with 32 latent frames (125 frames through the CV-VAE).
Differences, on purpose:
* the official code allocates the image/mask tensors as [.., W, H] (right only for square sizes); ours are [.., H, W];
* the posterior mean is used instead of an unseeded posterior sample (as for I2V), so runs are reproducible;
* only the frames that can influence latents 0-15 are encoded (the CV-VAE is causal and chunked, so later chunks do
  not change them): the same latents as encoding the whole video, at a fraction of the cost;
* where the official resize would leave the crop smaller than the target (a clip of another aspect ratio), it would
  zero-pad; we scale to cover instead, and say so.
"""
from __future__ import annotations

import logging

import torch

import comfy.latent_formats
import comfy.model_management as mm
import node_helpers

from ...modules.fancyvideo.conditioning import image_condition
from ...modules.fancyvideo.cvvae import frames_for_latents, latent_frames_for
from ...modules.fancyvideo.cvvae.tiling import temporal_chunks
from ...modules.fancyvideo.loading import LATENT_CHANNELS
from .conditioning import CONCAT_KEY
from .handles import CVVAEHandle, FancyVideoHandle
from .video_vae import SPATIAL, AnyVAE, cancel_only_hooks, check_images, check_size, cvvae_encode_frames, fit_frames

logger = logging.getLogger("FrameLoom.fancyvideo")

VIDEO_MODES = ("extend", "backtrack")
REFERENCE_LATENTS = 16
VIDEO_LATENT_FRAMES = 32
_SD15_LATENT = comfy.latent_formats.SD15()


def reference_frames_needed(vae: AnyVAE) -> int:
    """Frames of reference video that give 16 latents: 61 through the CV-VAE (4x in time), 16 through a 2D VAE."""
    return frames_for_latents(REFERENCE_LATENTS) if isinstance(vae, CVVAEHandle) else REFERENCE_LATENTS


def check_video_model(fancy: FancyVideoHandle) -> None:
    """Extending / backtracking sample 32 latent frames; the motion modules' position encoding must reach that far."""
    if fancy.weights.pe_length < VIDEO_LATENT_FRAMES:
        raise ValueError(
            f"extend/backtrack sample {VIDEO_LATENT_FRAMES} latent frames, but the motion modules of "
            f"'{fancy.filename}' cover only {fancy.weights.pe_length} (their position encoding length). Use the official "
            "video_extending / video_backtracking checkpoints."
        )


def _check_mode(mode: str) -> int:
    """Latent frame where the reference latents start."""
    if mode not in VIDEO_MODES:
        raise ValueError(f"mode must be one of {', '.join(VIDEO_MODES)}, got {mode!r}")
    return 0 if mode == "extend" else VIDEO_LATENT_FRAMES - REFERENCE_LATENTS


def _cvvae_frames_used(handle: CVVAEHandle, available: int) -> int:
    """How many leading frames determine latents 0-15 exactly as a whole-video encode would: up to the end of the
    temporal chunk that produces latent 15 (its GroupNorms pool over the whole chunk)."""
    config = handle.model.config
    chunks = temporal_chunks(available, config.en_de_n_frames_a_time, config.decode_latents_a_time, latent_frames_for)
    for chunk in chunks:
        if chunk.dst + latent_frames_for(chunk.end - chunk.start) - chunk.skip >= REFERENCE_LATENTS:
            return chunk.end
    return available


def _describe_fit(height: int, width: int, target_h: int, target_w: int) -> str:
    short = min(target_h, target_w)
    # torchvision's Resize(int): the short side becomes `short`, the long side is truncated to int(short * long / short_in)
    official = (short, int(width * short / height)) if height <= width else (int(height * short / width), short)
    if official[0] >= target_h and official[1] >= target_w:
        return f"resized to {official[1]}x{official[0]} (short side {short}) and centre-cropped to {target_w}x{target_h}"
    return (f"scaled to cover {target_w}x{target_h} and centre-cropped (the official short-side resize to {short} would "
            f"give {official[1]}x{official[0]} and zero-pad the rest)")


def encode_reference_clip(vae: AnyVAE, video: torch.Tensor, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(VAE-space latents [16, 4, height/8, width/8], the fitted frames that were encoded [T, height, width, 3])."""
    check_images(video, "the reference video")
    check_size(width, height)
    needed, available = reference_frames_needed(vae), video.shape[0]
    if available < needed:
        raise ValueError(
            f"extend/backtrack need the reference video's first {REFERENCE_LATENTS} latents: at least "
            f"{frames_for_latents(REFERENCE_LATENTS)} frames with the CV-VAE, or {REFERENCE_LATENTS} with a 2D image "
            f"VAE (one frame per latent). This {'CV-VAE' if isinstance(vae, CVVAEHandle) else '2D VAE'} needs "
            f"{needed}; the video has {available}."
        )
    used = _cvvae_frames_used(vae, available) if isinstance(vae, CVVAEHandle) else needed
    logger.info("FancyVideo reference clip: %d frames of %dx%d, %s; encoding its first %d frames",
                available, video.shape[2], video.shape[1], _describe_fit(video.shape[1], video.shape[2], height, width),
                used)
    frames = fit_frames(video[:used], width, height).to(mm.intermediate_device())
    if isinstance(vae, CVVAEHandle):
        latent = cvvae_encode_frames(vae, frames, cancel_only_hooks())
    else:
        latent = vae.encode(frames).float()
    if latent.ndim != 4 or latent.shape[1] != LATENT_CHANNELS or latent.shape[0] < REFERENCE_LATENTS:
        raise ValueError(f"expected {REFERENCE_LATENTS} 4-channel latents from the VAE, got {tuple(latent.shape)}")
    return latent[:REFERENCE_LATENTS].to(mm.intermediate_device()), frames


def video_to_video_inputs(
    positive: list, negative: list, vae: AnyVAE, video: torch.Tensor, width: int, height: int, mode: str
) -> tuple[list, list, dict, torch.Tensor]:
    """(positive, negative, empty 32-frame LATENT, fitted reference frames) for extending or backtracking.

    Both CFG branches carry the same image channels, as in the official pipeline."""
    start = _check_mode(mode)
    latents, frames = encode_reference_clip(vae, video, width, height)
    size = (height // SPATIAL, width // SPATIAL)
    if tuple(latents.shape[-2:]) != size:
        raise ValueError(f"the VAE encoded {width}x{height} frames to {tuple(latents.shape[-2:])} latents; expected {size}")
    concat = image_condition(_SD15_LATENT.process_in(latents), VIDEO_LATENT_FRAMES, start)
    positive = node_helpers.conditioning_set_values(positive, {CONCAT_KEY: concat})
    negative = node_helpers.conditioning_set_values(negative, {CONCAT_KEY: concat})
    empty = torch.zeros((VIDEO_LATENT_FRAMES, LATENT_CHANNELS, *size), device=mm.intermediate_device())
    logger.info("FancyVideo %s: reference latents at frames %d-%d of %d", mode, start, start + REFERENCE_LATENTS - 1,
                VIDEO_LATENT_FRAMES)
    return positive, negative, {"samples": empty}, frames
