"""IMAGE / LATENT <-> CV-VAE video tensors, the reference-frame fit, and encoding with either kind of VAE.

ComfyUI conventions kept: IMAGE is float32 [frames, H, W, C] in 0..1 on the intermediate device; LATENT samples are
[frames, 4, h, w] in VAE space (the model's latent format scales them by 0.18215 for SD1.5, the CV-VAE's own scaling
factor). The CV-VAE works on [1, C, T, H, W]; whole frame stacks stay on the CPU and only tiles visit the GPU.
"""
from __future__ import annotations

import logging
from typing import Optional, Union

import torch

import comfy.model_management as mm
import comfy.sd
import comfy.utils

from ...modules.common import LoopHooks
from ...modules.fancyvideo.cvvae import frames_for_latents, latent_frames_for
from ...modules.fancyvideo.loading import LATENT_CHANNELS
from ..patcher import load_on_device
from ..progress import comfy_hooks
from .handles import CVVAEHandle

logger = logging.getLogger("FrameLoom.fancyvideo")

SPATIAL = 8
AnyVAE = Union[comfy.sd.VAE, CVVAEHandle]


def check_size(width: int, height: int) -> None:
    """Both sides must be positive multiples of 8 (the VAEs' spatial factor); the error names the nearest sizes."""
    bad = []
    for name, size in (("width", width), ("height", height)):
        if size < SPATIAL or size % SPATIAL:
            lower, upper = max(SPATIAL, size // SPATIAL * SPATIAL), max(SPATIAL, -(-size // SPATIAL) * SPATIAL)
            bad.append(f"{name} {size} (use {lower}{'' if lower == upper else f' or {upper}'})")
    if bad:
        raise ValueError(f"FancyVideo sizes must be multiples of {SPATIAL}: {', '.join(bad)}")


def check_images(images: torch.Tensor, what: str = "image") -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] not in (3, 4) or 0 in images.shape:
        found = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"expected an IMAGE batch [frames, height, width, 3] for {what}, got {found}")


def fit_frames(images: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Every frame scaled to cover width x height, then centre-cropped to it: IMAGE [T, height, width, 3]."""
    check_images(images)
    check_size(width, height)
    frames = images[..., :3].float()
    if tuple(frames.shape[1:3]) == (height, width):
        return frames
    fitted = comfy.utils.common_upscale(frames.movedim(-1, 1), width, height, "bilinear", "center")
    return fitted.movedim(1, -1).clamp(0.0, 1.0)


def fit_image(images: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """The first frame scaled to cover width x height, then centre-cropped to it: IMAGE [1, height, width, 3].

    The official I2V path only centre-crops (a reference of another size is cut or zero-padded); resizing first makes
    any image size work and equals it when the image already has the target size.
    """
    check_images(images)
    if images.shape[0] > 1:
        logger.info("FancyVideo: the reference IMAGE has %d frames; using the first", images.shape[0])
    return fit_frames(images[:1], width, height)


def images_to_video(images: torch.Tensor) -> torch.Tensor:
    """IMAGE [T, H, W, C] in 0..1 -> CV-VAE input [1, 3, T, H, W] in [-1, 1]."""
    return images[..., :3].float().movedim(-1, 0).unsqueeze(0) * 2.0 - 1.0


def video_to_images(video: torch.Tensor) -> torch.Tensor:
    """CV-VAE output [1, 3, T, H, W] -> IMAGE [T, H, W, 3], with FancyVideo's (x/2 + 0.5).clamp(0, 1)."""
    return video[0].movedim(0, -1).float().mul(0.5).add(0.5).clamp(0.0, 1.0).contiguous()


def latent_to_video(samples: torch.Tensor) -> torch.Tensor:
    """LATENT samples [L, 4, h, w] (frames in the batch, as the FancyVideo nodes make them) or [1, 4, L, h, w]."""
    if samples.ndim == 4 and samples.shape[1] == LATENT_CHANNELS:
        return samples.movedim(0, 1).unsqueeze(0)
    if samples.ndim == 5 and samples.shape[:2] == (1, LATENT_CHANNELS):
        return samples
    raise ValueError(
        f"expected a 4-channel video LATENT [frames, 4, h, w] (or [1, 4, frames, h, w]), got {tuple(samples.shape)}"
    )


def _tile_memory(handle: CVVAEHandle, frames: int, height: int, width: int) -> int:
    """Rough working memory of one chunk x tile: a few level-0 activations [1, ch, 17, tile, tile]."""
    config = handle.model.config
    tile = config.tile_spatial_size or max(height, width)
    chunk = min(frames, (config.en_de_n_frames_a_time or frames) + 1)
    element = torch.finfo(handle.dtype).bits // 8
    return 6 * config.ch * chunk * min(height, tile) * min(width, tile) * element


def check_encodable_frames(frames: int) -> None:
    """The CV-VAE reproduces only 4k+1 frames; other counts would silently lose their trailing frames."""
    used = frames_for_latents(latent_frames_for(frames))
    if used != frames:
        raise ValueError(
            f"the CV-VAE encodes 4k+1 frames (1, 5, 9, ..., 61, ..., 125); got {frames}. "
            f"Use {used} or {used + 4} frames (trim or extend the video)."
        )


def cvvae_encode(handle: CVVAEHandle, images: torch.Tensor, hooks: Optional[LoopHooks] = None) -> torch.Tensor:
    """IMAGE [T, H, W, C] (T = 4k+1) -> LATENT samples [1 + (T-1)/4, 4, H/8, W/8]: the posterior mean (deterministic).

    hooks: progress and Cancel per chunk; by default the node's ComfyUI progress bar."""
    check_images(images, "the CV-VAE")
    check_encodable_frames(images.shape[0])
    return cvvae_encode_frames(handle, images, hooks)


def cvvae_encode_frames(handle: CVVAEHandle, images: torch.Tensor, hooks: Optional[LoopHooks] = None) -> torch.Tensor:
    """cvvae_encode for any frame count, as the official video encode does: frames past the last 4k+1 still shape
    the GroupNorm statistics of their chunk but give no latent of their own."""
    load_on_device(handle.patcher, _tile_memory(handle, images.shape[0], images.shape[1], images.shape[2]))
    video = images_to_video(images.to(mm.intermediate_device()))
    latent = handle.model.encode(video, hooks=hooks if hooks is not None else comfy_hooks(1))
    return latent[0].movedim(1, 0).float().to(mm.intermediate_device())


def cvvae_decode(handle: CVVAEHandle, samples: torch.Tensor) -> torch.Tensor:
    """LATENT samples (VAE space) -> IMAGE [4L-3, 8h, 8w, 3]."""
    latent = latent_to_video(samples).float().to(mm.intermediate_device())
    _, _, length, h, w = latent.shape
    load_on_device(handle.patcher, _tile_memory(handle, frames_for_latents(length), h * SPATIAL, w * SPATIAL))
    return video_to_images(handle.model.decode(latent, hooks=comfy_hooks(1))).to(mm.intermediate_device())


def cancel_only_hooks() -> LoopHooks:
    """Cancel without progress: encoding a reference inside a sampler must not reset the sampler's progress bar."""
    return LoopHooks(check_cancel=mm.throw_exception_if_processing_interrupted)


def encode_reference(vae: AnyVAE, image: torch.Tensor) -> torch.Tensor:
    """One reference frame IMAGE [1, H, W, 3] -> LATENT samples [1, 4, H/8, W/8] with a CV-VAE or a ComfyUI VAE."""
    if isinstance(vae, CVVAEHandle):
        return cvvae_encode(vae, image, cancel_only_hooks())
    if not isinstance(vae, comfy.sd.VAE):
        raise ValueError(f"expected a VAE (Load Checkpoint / Load VAE) or a CVVAE (CV-VAE Loader), got {type(vae).__name__}")
    latent = vae.encode(image[..., :3]).float()
    if latent.ndim != 4 or latent.shape[1] != LATENT_CHANNELS:
        raise ValueError(f"FancyVideo needs an SD1.5-compatible 4-channel image VAE; this VAE gave latents {tuple(latent.shape)}")
    return latent
