"""FancyVideo generation as plain functions over ComfyUI objects: I2V conditioning, and the one-box T2V / I2V /
extend / backtrack run.

T2V follows the official pipeline (and paper v4): the same UNet first makes the opening frame as an image
(1 latent frame, motion modules off, no fps/motion embeddings, epsilon schedule, decoded by the 2D VAE), which then
conditions the video exactly as an I2V reference image would (zero-SNR v-prediction, motion modules, fps/motion).
Sampling goes through comfy.sample, so every ComfyUI sampler and scheduler works, previews show and Cancel stops it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import torch

import comfy.latent_formats
import comfy.model_management as mm
import comfy.model_patcher
import comfy.sample
import comfy.samplers
import comfy.sd
import comfy.utils
import latent_preview
import node_helpers

from ..sampling_inputs import check_sampler_names
from ...modules.fancyvideo.conditioning import image_condition
from ...modules.fancyvideo.loading import LATENT_CHANNELS
from .apply import apply_fancyvideo
from .conditioning import CONCAT_KEY
from .handles import CVVAEHandle, FancyVideoHandle, check_sd15
from .video_condition import VIDEO_LATENT_FRAMES, VIDEO_MODES, check_video_model, video_to_video_inputs
from .video_vae import AnyVAE, SPATIAL, check_size, encode_reference, fit_image

logger = logging.getLogger("FrameLoom.fancyvideo")

_SD15_LATENT = comfy.latent_formats.SD15()
DEFAULT_MODE = "t2v/i2v"
SAMPLER_MODES = (DEFAULT_MODE, *VIDEO_MODES)


def check_latent_frames(latent_frames: int, fancy: Optional[FancyVideoHandle] = None) -> None:
    limit = fancy.weights.pe_length if fancy is not None else None
    if latent_frames < 1 or (limit is not None and latent_frames > limit):
        upper = f" and at most {limit} (the motion modules' position encoding length)" if limit else ""
        raise ValueError(f"latent_frames must be at least 1{upper}, got {latent_frames}")


def image_to_video_inputs(
    positive: list, negative: list, vae: AnyVAE, image: torch.Tensor, width: int, height: int, latent_frames: int
) -> tuple[list, list, dict, torch.Tensor]:
    """(positive, negative, LATENT, reference IMAGE) for FancyVideo I2V.

    The reference is fitted to width x height, encoded (CV-VAE: as a 1-frame video, posterior mean), scaled into the
    UNet's space (x0.18215) and placed at latent frame 0 with mask 1; both CFG branches carry the same channels, as
    in the official pipeline. The LATENT is the empty video [latent_frames, 4, height/8, width/8].
    """
    check_size(width, height)
    check_latent_frames(latent_frames)
    reference = fit_image(image, width, height)
    latent = encode_reference(vae, reference)
    size = (height // SPATIAL, width // SPATIAL)
    if tuple(latent.shape[-2:]) != size:
        raise ValueError(f"the VAE encoded a {width}x{height} image to a {tuple(latent.shape[-2:])} latent; expected {size}")
    concat = image_condition(_SD15_LATENT.process_in(latent[:1]), latent_frames)
    positive = node_helpers.conditioning_set_values(positive, {CONCAT_KEY: concat})
    negative = node_helpers.conditioning_set_values(negative, {CONCAT_KEY: concat})
    empty = torch.zeros((latent_frames, LATENT_CHANNELS, *size), device=mm.intermediate_device())
    return positive, negative, {"samples": empty}, reference


@dataclass(frozen=True)
class VideoSettings:
    """The sampler box's widgets. Defaults are the official inference settings (768x768, 16 latent frames = 61
    frames through the CV-VAE, fps 25, motion score 3, 50 DDIM steps at CFG 7.5, seed 22)."""

    width: int = 768
    height: int = 768
    latent_frames: int = 16
    fps: float = 25.0
    motion_score: float = 3.0
    seed: int = 22
    steps: int = 50
    cfg: float = 7.5
    sampler_name: str = "ddim"
    scheduler: str = "ddim_uniform"

    def __post_init__(self) -> None:
        check_size(self.width, self.height)
        check_latent_frames(self.latent_frames)
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        check_sampler_names(self.sampler_name, self.scheduler)


class SamplingProgress:
    """One progress bar over every pass of a run, with latent previews; Cancel is honoured at every step."""

    def __init__(self, model: comfy.model_patcher.ModelPatcher, total: int) -> None:
        self.total = total
        self.bar = comfy.utils.ProgressBar(total)
        self.previewer = latent_preview.get_previewer(model.load_device, model.model.latent_format)

    def callback(self, offset: int):
        def on_step(step: int, x0: torch.Tensor, x: torch.Tensor, total_steps: int) -> None:
            mm.throw_exception_if_processing_interrupted()
            preview = self.previewer.decode_latent_to_preview_image("JPEG", x0) if self.previewer else None
            self.bar.update_absolute(offset + step + 1, self.total, preview)

        return on_step


def _sample(model: comfy.model_patcher.ModelPatcher, latent: torch.Tensor, positive: list, negative: list,
            settings: VideoSettings, callback) -> torch.Tensor:
    noise = comfy.sample.prepare_noise(latent, settings.seed)
    return comfy.sample.sample(
        model, noise, settings.steps, settings.cfg, settings.sampler_name, settings.scheduler, positive, negative,
        latent, callback=callback, disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=settings.seed,
    )


def first_frame_model(model: comfy.model_patcher.ModelPatcher, fancy: FancyVideoHandle) -> comfy.model_patcher.ModelPatcher:
    """The official T2V first-frame pass: no motion modules, no fps/motion embeddings, epsilon DDIM schedule."""
    return apply_fancyvideo(model, fancy.model_for(model), fps=None, motion_score=None, compute_motion=False, sampling="eps")


def _check_mode_inputs(mode: str, image: Optional[torch.Tensor], video: Optional[torch.Tensor]) -> None:
    if mode not in SAMPLER_MODES:
        raise ValueError(f"mode must be one of {', '.join(SAMPLER_MODES)}, got {mode!r}")
    if mode in VIDEO_MODES and video is None:
        raise ValueError(f"mode '{mode}' needs a reference video: connect the frames to the 'video' input")
    if mode not in VIDEO_MODES and video is not None:
        raise ValueError(f"a video is connected but mode is '{mode}': choose extend or backtrack to use it")
    if mode in VIDEO_MODES and image is not None:
        logger.warning("FancyVideo %s: the 'image' input is not used (the reference is the video)", mode)


def _video_mode(
    model: comfy.model_patcher.ModelPatcher, fancy: FancyVideoHandle, positive: list, negative: list, vae: AnyVAE,
    settings: VideoSettings, video: torch.Tensor, mode: str,
) -> tuple[dict, torch.Tensor]:
    check_video_model(fancy)
    if settings.latent_frames != VIDEO_LATENT_FRAMES:
        logger.info("FancyVideo %s runs with %d latent frames (official); latent_frames=%d is not used",
                    mode, VIDEO_LATENT_FRAMES, settings.latent_frames)
    progress = SamplingProgress(model, settings.steps)
    video_positive, video_negative, latent, frames = video_to_video_inputs(
        positive, negative, vae, video, settings.width, settings.height, mode)
    video_model = apply_fancyvideo(model, fancy.model_for(model), fps=settings.fps, motion_score=settings.motion_score)
    samples = _sample(video_model, latent["samples"], video_positive, video_negative, settings, progress.callback(0))
    return {"samples": samples}, frames


def generate_video(
    model: comfy.model_patcher.ModelPatcher,
    fancy: FancyVideoHandle,
    positive: list,
    negative: list,
    vae: comfy.sd.VAE,
    settings: VideoSettings = VideoSettings(),
    image: Optional[torch.Tensor] = None,
    cvvae: Optional[CVVAEHandle] = None,
    mode: str = DEFAULT_MODE,
    video: Optional[torch.Tensor] = None,
) -> tuple[dict, torch.Tensor]:
    """(video LATENT [latent_frames, 4, h, w], reference IMAGE [n, H, W, 3]).

    mode t2v/i2v: image None is T2V (the first frame is generated, then used as the reference), else I2V.
    mode extend / backtrack: `video`'s first 16 latents fixed at latent frames 0-15 / 16-31 of 32; the reference
    returned is the fitted clip that was encoded. The reference is encoded by `cvvae` when given (decode the result
    with CV-VAE Decode), else by `vae` (decode per frame with VAE Decode).
    """
    check_sd15(model)
    _check_mode_inputs(mode, image, video)
    if mode in VIDEO_MODES:
        return _video_mode(model, fancy, positive, negative, cvvae if cvvae is not None else vae, settings, video, mode)
    check_latent_frames(settings.latent_frames, fancy)
    passes = 1 if image is not None else 2
    progress = SamplingProgress(model, settings.steps * passes)
    size = (settings.height // SPATIAL, settings.width // SPATIAL)
    if image is None:
        blank = torch.zeros((1, LATENT_CHANNELS, *size), device=mm.intermediate_device())
        first = _sample(first_frame_model(model, fancy), blank, positive, negative, settings, progress.callback(0))
        image = vae.decode(first)[:1].float().to(mm.intermediate_device())
        logger.info("FancyVideo T2V: first frame generated (%dx%d)", settings.width, settings.height)
    video_positive, video_negative, latent, reference = image_to_video_inputs(
        positive, negative, cvvae if cvvae is not None else vae, image, settings.width, settings.height,
        settings.latent_frames,
    )
    video_model = apply_fancyvideo(model, fancy.model_for(model), fps=settings.fps, motion_score=settings.motion_score)
    samples = _sample(video_model, latent["samples"], video_positive, video_negative, settings,
                      progress.callback(settings.steps * (passes - 1)))
    return {"samples": samples}, reference
