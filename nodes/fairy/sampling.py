"""The Fairy-style edit loop: an anchor pass, then every other frame in batches that attend to the anchors' cache.

A frame's result depends only on its source, the anchors, its index in the full video and the settings, never on
the frames that share its batch: initial and ancestral noise come from per-frame generators keyed by the frame's
index in the full video (modules.fairy.noise), and the anchors' K/V come from the cache. So frames_per_batch only
trades speed for memory, and several servers can each edit a frame range and join the results seamlessly.
"""
from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

import torch

import comfy.model_management as mm
import comfy.samplers
from comfy.model_patcher import ModelPatcher

from ..sampling_inputs import check_sampler_names
from ...modules.common import LoopHooks, chunk_ranges
from ...modules.common.hooks import NO_HOOKS
from ...modules.fairy import ANCHOR_RULES, AnchorCache, anchor_indices, per_frame_noise
from .frames import check_images, log_resize, resize_frames, working_size
from .guidance import check_conditioning, is_instruct_pix2pix, make_guider
from .patch import apply_anchor_attention

if TYPE_CHECKING:
    import comfy.sd

logger = logging.getLogger("FrameLoom.fairy")


@dataclass(frozen=True)
class FairyEditOptions:
    """Everything besides the models, prompts and frames. Defaults follow the paper (K=3, Euler ancestral, 10 steps,
    long side 512) and InstructPix2Pix's usual guidance (text 7.5, image 1.5)."""

    anchors: int = 3
    anchor_rule: str = "segment_centers"
    frames_per_batch: int = 8
    steps: int = 10
    sampler_name: str = "euler_ancestral"
    scheduler: str = "normal"
    text_cfg: float = 7.5
    image_cfg: float = 1.5
    seed: int = 0
    denoise: float = 1.0
    long_side: int = 512  # 0 keeps the size (snapped to multiples of 8)
    start_frame: int = 0
    end_frame: int = 0  # exclusive; 0 = up to the last frame
    shared_noise: bool = False  # every frame gets frame 0's noise (still one generator per frame)
    offload_cache: bool = False  # keep the anchor cache in CPU memory between uses

    def __post_init__(self) -> None:
        if self.anchor_rule not in ANCHOR_RULES:
            raise ValueError(f"anchor_rule must be one of {', '.join(ANCHOR_RULES)}, got '{self.anchor_rule}'")
        for name in ("anchors", "frames_per_batch", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 < self.denoise <= 1.0:
            raise ValueError(f"denoise must be in (0, 1], got {self.denoise}")
        check_sampler_names(self.sampler_name, self.scheduler)


@dataclass(frozen=True)
class EditPlan:
    """Which frames are sampled, in which passes. Indices are in the full video."""

    anchors: tuple[int, ...]
    start: int
    end: int
    batches: tuple[tuple[int, ...], ...]  # the range's non-anchor frames, frames_per_batch at a time
    steps: int

    @property
    def total_units(self) -> int:
        """Progress units: frames sampled (the anchors always, plus the batches) times steps."""
        return (len(self.anchors) + sum(len(b) for b in self.batches)) * self.steps


def plan_edit(num_frames: int, options: FairyEditOptions) -> EditPlan:
    """Anchors from the full video (so every range uses the same ones), then the range's other frames in batches."""
    if num_frames < options.anchors:
        raise ValueError(
            f"Fairy-style editing with {options.anchors} anchor frames needs at least {options.anchors} frames, but "
            f"the video has {num_frames}; lower 'anchors' or pass more frames"
        )
    end = num_frames if options.end_frame == 0 else options.end_frame
    if not 0 <= options.start_frame < end <= num_frames:
        raise ValueError(
            f"frame range [{options.start_frame}, {end}) is not inside the video's {num_frames} frames; expected "
            f"0 <= start_frame < end_frame <= {num_frames} (end_frame 0 = up to the last frame)"
        )
    anchors = tuple(anchor_indices(num_frames, options.anchors, options.anchor_rule))
    others = [i for i in range(options.start_frame, end) if i not in anchors]
    batches = tuple(tuple(others[a:b]) for a, b in chunk_ranges(len(others), options.frames_per_batch))
    return EditPlan(anchors, options.start_frame, end, batches, options.steps)


class FrameNoiseSampler:
    """`noise_sampler(sigma, sigma_next)` for ancestral/SDE samplers: the n-th draw of a run is per_frame_noise(...,
    step=n). Counting draws (not matching sigmas) also covers samplers that draw at sigmas between schedule points."""

    def __init__(self, shape_per_frame: Sequence[int], frames: Sequence[int], seed: int, shared: bool) -> None:
        self.shape, self.frames, self.seed, self.shared = tuple(shape_per_frame), list(frames), seed, shared
        self.draws = 0

    def __call__(self, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        noise = per_frame_noise(self.shape, self.frames, self.seed, step=self.draws, shared=self.shared)
        self.draws += 1
        return noise.to(torch.as_tensor(sigma).device)


def _sampler(name: str, noise_sampler: FrameNoiseSampler):
    sampler = comfy.samplers.sampler_object(name)
    function = getattr(sampler, "sampler_function", None)
    if function is not None and "noise_sampler" in inspect.signature(function).parameters:
        # A new dict: KSAMPLER's default extra_options is shared between instances.
        sampler.extra_options = {**sampler.extra_options, "noise_sampler": noise_sampler}
    return sampler


@dataclass
class _Run:
    """What every batch of one edit shares."""

    positive: list
    negative: list
    vae: object
    images: torch.Tensor
    options: FairyEditOptions
    size: tuple[int, int]
    sigmas: torch.Tensor
    ip2p: bool
    hooks: LoopHooks
    total: int
    done: int = 0

    def sample(self, model: ModelPatcher, frames: Sequence[int], decode: bool = True) -> Optional[torch.Tensor]:
        """Edit `frames` (indices in the full video) as one batch with `model`; IMAGE [B, h, w, 3] on the CPU, or
        None when `decode` is off (an anchor pass whose anchors all lie outside this worker's range)."""
        opts = self.options
        pixels = resize_frames(self.images[list(frames)], self.size)
        source = self.vae.encode(pixels).float()
        noise = per_frame_noise(source.shape[1:], frames, opts.seed, shared=opts.shared_noise)
        # InstructPix2Pix starts from pure noise (the source enters as concat conditioning), as ComfyUI's
        # InstructPixToPixConditioning does; partial denoise and plain SD models start from the source latent.
        start = torch.zeros_like(source) if self.ip2p and opts.denoise >= 1.0 else source
        guider = make_guider(model, self.positive, self.negative, source, opts.text_cfg, opts.image_cfg, self.ip2p)
        sampler = _sampler(opts.sampler_name, FrameNoiseSampler(source.shape[1:], frames, opts.seed, opts.shared_noise))
        before, count = self.done, len(frames)

        def on_step(step: int, denoised, x, total_steps: int) -> None:
            self.hooks.step(before + (step + 1) * opts.steps // max(total_steps, 1) * count, self.total)
            self.hooks.cancel_point()

        samples = guider.sample(noise, start, sampler, self.sigmas, callback=on_step, disable_pbar=True, seed=opts.seed)
        self.done = before + count * opts.steps
        self.hooks.step(self.done, self.total)
        logger.debug("sampled frames %s", list(frames))
        return self.vae.decode(samples).float().cpu() if decode else None


@torch.no_grad()
def edit_video(
    model: ModelPatcher,
    positive: list,
    negative: list,
    vae: comfy.sd.VAE,
    images: torch.Tensor,
    options: FairyEditOptions = FairyEditOptions(),
    hooks: LoopHooks = NO_HOOKS,
    cache: Optional[AnchorCache] = None,
) -> torch.Tensor:
    """Fairy-style edit of `images` (IMAGE [F, H, W, C]) with a ComfyUI MODEL, CONDITIONINGs and VAE.

    Returns IMAGE float32 [end - start, h, w, 3] on the CPU: the frames of the range in order, anchors included,
    at the working size (long side `options.long_side`, multiples of 8). `cache` may be passed to inspect the
    anchors' K/V afterwards; by default a fresh one is used and freed.
    """
    check_images(images)
    check_conditioning("positive", positive)
    check_conditioning("negative", negative)
    plan = plan_edit(images.shape[0], options)
    size = working_size(images.shape[1], images.shape[2], options.long_side)
    log_resize(images.shape[1], images.shape[2], size, options.long_side)
    own_cache = cache is None
    cache = AnchorCache(offload=options.offload_cache) if own_cache else cache
    sigmas = comfy.samplers.KSampler(
        model, options.steps, model.load_device, options.sampler_name, options.scheduler, options.denoise
    ).sigmas
    run = _Run(positive, negative, vae, images, options, size, sigmas, is_instruct_pix2pix(model), hooks, plan.total_units)
    out = torch.empty((plan.end - plan.start, *size, 3), dtype=torch.float32, device="cpu")
    logger.info(
        "Fairy-style edit: frames %d..%d of %d, anchors %s, %d batches of up to %d",
        plan.start, plan.end - 1, images.shape[0], list(plan.anchors), len(plan.batches), options.frames_per_batch,
    )
    try:
        hooks.cancel_point()
        in_range = [i for i, frame in enumerate(plan.anchors) if plan.start <= frame < plan.end]
        decoded = run.sample(apply_anchor_attention(model, cache, "anchor"), plan.anchors, decode=bool(in_range))
        logger.info("anchor cache: %d entries, %.1f MiB", len(cache), cache.nbytes / 2**20)
        for i in in_range:
            out[plan.anchors[i] - plan.start] = decoded[i]
        frame_model = apply_anchor_attention(model, cache, "frames")
        for batch in plan.batches:
            hooks.cancel_point()
            decoded = run.sample(frame_model, batch)
            out[[i - plan.start for i in batch]] = decoded
            mm.soft_empty_cache()
    finally:
        if own_cache:
            cache.clear()
    return out
