"""StreamingT2V Extend: the autoregressive chunk loop on a ComfyUI MODEL.

Every new run samples a 16-frame chunk with ComfyUI's sampler, conditioned (CAM) on the last 8 frames made so far
and (APM) on the anchor, frame 0 of the clip; frames 8..15 of the decoded chunk are appended
(modules.streamingt2v.autoregression has the bookkeeping). Frames accumulate in a preallocated float32 CPU tensor;
the GPU only ever holds one chunk, so its memory does not grow with the length.

Sampler: the official DDIM with eta = 1.0 is, step for step, ancestral Euler on the same timesteps (the DDIM
posterior with eta = 1 equals the ancestral step of the VE form x/sqrt(ᾱ)). ComfyUI's "ddim" sampler is eta 0, so
the defaults are sampler "euler_ancestral" with scheduler "ddim_uniform" (timesteps 981, 961, ..., 1 for 50 steps, as
DDIMScheduler with steps_offset 1). The one difference: the last step lands on sigma 0 rather than on t = 0.
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from typing import Callable, Optional

import torch

import comfy.model_management as mm
import comfy.sample
import comfy.samplers
import comfy.utils
import folder_paths
import latent_preview
import node_helpers

from ..sampling_inputs import check_sampler_names
from ...modules.streamingt2v.autoregression import chunk_seed, plan_extension
from ...modules.streamingt2v.bookkeeping import MS_CHUNK, ms_kept_frames
from .cache import ChunkCache, input_hash, module_fingerprint, patcher_fingerprint
from .model import ANCHOR_KEY, COND_FRAMES_KEY, is_streaming_t2v

logger = logging.getLogger("FrameLoom.streamingt2v")

CACHE_FOLDER = "frameloom_streamingt2v"


@dataclass(frozen=True)
class ExtendSettings:
    """Defaults are the official inference settings (50 steps, CFG 7.5, DDIM eta 1 -> see module docstring, 256²)."""

    total_frames: int = 56
    seed: int = 0
    steps: int = 50
    cfg: float = 7.5
    sampler_name: str = "euler_ancestral"
    scheduler: str = "ddim_uniform"
    size: int = 256

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.size < 8 or self.size % 8:
            raise ValueError(f"size must be a positive multiple of 8 (the VAE's factor), got {self.size}")
        check_sampler_names(self.sampler_name, self.scheduler)


@dataclass(frozen=True)
class AnchorEmbeds:
    """Pooled CLIP-vision embeddings [1, Fa, D]: the anchor frame(s) for the positive, the mid-gray frame for the
    negative (the official unconditional anchor is zeros in [-1, 1], i.e. gray)."""

    cond: torch.Tensor
    uncond: torch.Tensor


def fit_frames(images: torch.Tensor, size: int) -> torch.Tensor:
    """IMAGE [F, H, W, C] -> float32 CPU [F, size, size, 3]: centre-cropped to a square and resized (unchanged when
    already size×size, so an earlier result is continued exactly)."""
    if images.ndim != 4 or images.shape[-1] < 3:
        raise ValueError(f"expected an IMAGE batch [frames, height, width, channels]; got {list(images.shape)}")
    frames = images[..., :3].to("cpu", torch.float32)
    if tuple(frames.shape[1:3]) == (size, size):
        return frames.contiguous()
    method = "area" if min(frames.shape[1:3]) >= size else "bicubic"
    resized = comfy.utils.common_upscale(frames.movedim(-1, 1), size, size, method, "center")
    return resized.movedim(1, -1).clamp(0.0, 1.0).contiguous()


def anchor_embeddings(clip_vision, clip_vision_output, first_frame: torch.Tensor) -> AnchorEmbeds:
    """Anchor from `clip_vision_output` when given, else encoded from `first_frame` ([1, H, W, 3]); the gray
    frame's embedding always needs the CLIP vision model. Frames are resized whole to 224 (no crop), as upstream."""
    if clip_vision is None:
        raise ValueError(
            "StreamingT2V Extend needs a CLIP_VISION model (OpenCLIP ViT-H, e.g. clip_vision_h.safetensors): it "
            "encodes the mid-gray anchor of the negative branch, and the first frame unless clip_vision_output is given"
        )
    if clip_vision_output is not None:
        cond = clip_vision_output["image_embeds"]
    else:
        cond = clip_vision.encode_image(first_frame, crop=False)["image_embeds"]
    uncond = clip_vision.encode_image(torch.full_like(first_frame, 0.5), crop=False)["image_embeds"]
    return AnchorEmbeds(cond.to("cpu", torch.float32)[None], uncond.to("cpu", torch.float32)[None])


def _check_inputs(model, anchor: AnchorEmbeds) -> None:
    if not is_streaming_t2v(model):
        raise ValueError(
            "StreamingT2V Extend needs the model from 'StreamingT2V Loader (FrameLoom)'; got "
            f"{type(getattr(model, 'model', model)).__name__}"
        )
    width = model.get_model_object("diffusion_model").net.resampler.embed_dim
    for name, embeds in (("anchor", anchor.cond), ("gray anchor", anchor.uncond)):
        if embeds.ndim != 3 or embeds.shape[-1] != width:
            raise ValueError(
                f"the {name} CLIP-vision embedding is {list(embeds.shape)}; this StreamingT2V needs {width}-d pooled "
                "embeddings (OpenCLIP ViT-H, e.g. clip_vision_h.safetensors)"
            )


class _ChunkProgress:
    """One progress bar over all new chunks × steps, with latent previews; Cancel is honoured after every step."""

    def __init__(self, model, total: int) -> None:
        self.total = total
        self.bar = comfy.utils.ProgressBar(total)
        self.previewer = latent_preview.get_previewer(model.load_device, model.model.latent_format)

    def sampler_callback(self, done: int) -> Callable:
        def on_step(step: int, x0: torch.Tensor, x: torch.Tensor, total_steps: int) -> None:
            preview = self.previewer.decode_latent_to_preview_image("JPEG", x0) if self.previewer else None
            self.bar.update_absolute(done + step + 1, self.total, preview)
            mm.throw_exception_if_processing_interrupted()

        return on_step

    def update(self, done: int) -> None:
        self.bar.update_absolute(done, self.total)


def resume_cache(
    model, positive: list, negative: list, vae, clip: torch.Tensor, anchor: AnchorEmbeds, settings: ExtendSettings
) -> ChunkCache:
    """The chunk cache of exactly these inputs under ComfyUI's temp directory (total_frames is not part of the key:
    a chunk does not depend on how many follow it)."""
    parts = {k: v for k, v in asdict(settings).items() if k != "total_frames"}
    parts.update(
        clip=clip, positive=positive, negative=negative, anchor=(anchor.cond, anchor.uncond),
        model=patcher_fingerprint(model), vae=module_fingerprint(vae.first_stage_model),
    )  # fmt: skip
    return ChunkCache(os.path.join(folder_paths.get_temp_directory(), CACHE_FOLDER), input_hash(parts))


def _sample_chunk(
    model,
    positive: list,
    negative: list,
    vae,
    condition: torch.Tensor,
    anchor: AnchorEmbeds,
    run: int,
    settings: ExtendSettings,
    callback: Callable,
) -> torch.Tensor:
    """One run: sample and decode a 16-frame chunk conditioned on `condition` (the last 8 frames, IMAGE layout)."""
    cam = condition.movedim(-1, 1).mul(2.0).sub(1.0)[None]  # [1, 8, 3, H, W] in [-1, 1]
    pos = node_helpers.conditioning_set_values(positive, {ANCHOR_KEY: anchor.cond, COND_FRAMES_KEY: cam})
    neg = node_helpers.conditioning_set_values(negative, {ANCHOR_KEY: anchor.uncond, COND_FRAMES_KEY: cam})
    channels = model.get_model_object("latent_format").latent_channels
    latent = torch.zeros(MS_CHUNK, channels, settings.size // 8, settings.size // 8)
    seed = chunk_seed(settings.seed, run)
    noise = comfy.sample.prepare_noise(latent, seed)
    samples = comfy.sample.sample(
        model, noise, settings.steps, settings.cfg, settings.sampler_name, settings.scheduler, pos, neg, latent,
        denoise=1.0, callback=callback, disable_pbar=True, seed=seed,
    )  # fmt: skip
    decoded = vae.decode(samples)
    expected = (MS_CHUNK, settings.size, settings.size, 3)
    if tuple(decoded.shape) != expected:
        raise ValueError(f"the VAE decoded the chunk to {list(decoded.shape)}; expected {list(expected)} (an SD-style VAE)")
    return decoded[ms_kept_frames(run)].to("cpu", torch.float32)


@torch.no_grad()
def extend_video(
    model,
    positive: list,
    negative: list,
    vae,
    clip: torch.Tensor,
    anchor: AnchorEmbeds,
    settings: ExtendSettings,
    cache: Optional[ChunkCache] = None,
) -> torch.Tensor:
    """Extend `clip` (IMAGE [16 + 8·j, size, size, 3], see fit_frames) to settings.total_frames frames.

    Returns IMAGE float32 [total_frames, size, size, 3] on the CPU. With `cache`, chunks found there are reused,
    every new chunk is stored, and the cache is removed once the video is complete.
    """
    _check_inputs(model, anchor)
    plan = plan_extension(clip.shape[0], settings.total_frames)
    if tuple(clip.shape[1:]) != (settings.size, settings.size, 3):
        size = settings.size
        raise ValueError(f"clip must be [frames, {size}, {size}, 3] (see fit_frames); got {list(clip.shape)}")
    out = torch.empty((plan.total_frames, settings.size, settings.size, 3), dtype=torch.float32)
    out[: plan.source_frames] = clip
    runs = list(plan.new_runs)
    done = 0
    while cache is not None and done < len(runs):
        cached = cache.load(runs[done])
        target = out[plan.output_slice(runs[done])]
        if cached is None or cached.shape != target.shape:
            break
        target.copy_(cached)
        done += 1
    if done:
        logger.info("StreamingT2V Extend: resuming after %d cached chunk(s)", done)
    logger.info(
        "StreamingT2V Extend: %d -> %d frames, %d new chunk(s)", plan.source_frames, plan.total_frames, len(runs) - done
    )
    progress = _ChunkProgress(model, len(runs) * settings.steps)
    progress.update(done * settings.steps)
    for index in range(done, len(runs)):
        run = runs[index]
        mm.throw_exception_if_processing_interrupted()
        callback = progress.sampler_callback(index * settings.steps)
        kept = _sample_chunk(
            model, positive, negative, vae, out[plan.condition_slice(run)], anchor, run, settings, callback
        )
        out[plan.output_slice(run)] = kept
        if cache is not None:
            cache.save(run, kept)
        mm.soft_empty_cache()
    if cache is not None:
        cache.clear()
    return out
