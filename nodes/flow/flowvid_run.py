"""FlowVid-style propagation as plain functions over ComfyUI objects (FlowVid's weights were never released).

Training-free stand-in on FancyVideo's image-to-video UNet. Per batch of keyframes: the reference frame (the edited
first frame, later the previous batch's last keyframe) is warped to every keyframe along the backward flow, occluded
pixels are painted gray, and the warped frames are VAE-encoded as the starting latent. Visible latent pixels are
denoised SDEdit-style for `strength` of the schedule, occluded ones from pure noise, the reference frame not at all
(modules.flowvid.strength). The reference also conditions the video as FancyVideo's I2V image at latent frame 0;
an optional ControlNet gets the keyframes' rows of a per-frame hint (FlowVid's spatial condition).
After decoding, colours are calibrated to the edited first frame and RIFE fills the frames between keyframes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import torch

import comfy.model_management as mm
import comfy.model_patcher
import comfy.sample
import comfy.sd
import comfy.utils

from ...modules.flow import DisFlow, VideoFlow, flow_pairs
from ...modules.flow.frames import MIN_SIZE
from ...modules.flowvid import (
    Interpolator,
    calibrate_colors,
    fill_gaps,
    histogram_cuts,
    keyframe_batches,
    keyframe_indices,
    open_pixels,
    remaining_share,
    require_single_scene,
    strength_mask,
    warp_condition,
)
from ...modules.rife import interpolate_pair
from ..fancyvideo.apply import PATCH_KEY
from ..fancyvideo.conditioning import fancyvideo_image_conditioning
from ..fancyvideo.generate import SamplingProgress
from ..patcher import load_on_device
from ..progress import comfy_hooks
from ..sampling_inputs import check_sampler_names

logger = logging.getLogger("FrameLoom.flowvid")

SPATIAL = 8  # the SD VAE's downscale: frame sides must divide by it so the occlusion mask lines up with the latent
MAX_KEYFRAMES_PER_BATCH = 32  # the released FancyVideo motion modules' position-encoding length


@dataclass(frozen=True)
class PropagateSettings:
    """The node's widgets. FlowVid: 16 keyframes per batch at interval 4; strength is our SDEdit share (the paper
    trains its own model and needs none)."""

    strength: float = 0.75
    interval: int = 4
    keyframes_per_batch: int = 16
    seed: int = 0
    steps: int = 25
    cfg: float = 7.5
    sampler_name: str = "ddim"
    scheduler: str = "ddim_uniform"
    calibrate_colors: bool = True
    scene_cut_threshold: float = 0.4  # histogram distance; 0 switches the check off

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be in 0..1, got {self.strength}")
        if self.interval < 1:
            raise ValueError(f"keyframe_interval must be at least 1, got {self.interval}")
        if not 2 <= self.keyframes_per_batch <= MAX_KEYFRAMES_PER_BATCH:
            raise ValueError(
                f"keyframes_per_batch must be 2..{MAX_KEYFRAMES_PER_BATCH} (batches overlap by one keyframe; the "
                f"motion modules span {MAX_KEYFRAMES_PER_BATCH} frames), got {self.keyframes_per_batch}"
            )
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        check_sampler_names(self.sampler_name, self.scheduler)


def check_frames(video: torch.Tensor, edited: torch.Tensor) -> None:
    """The video and the edited first frame must be IMAGE batches of one size (the warp is pixel-exact)."""
    for name, images in (("video", video), ("edited_first_frame", edited)):
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[-1] not in (3, 4):
            found = list(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"{name} must be an IMAGE batch [frames, height, width, 3]; found {found}")
    if video.shape[0] < 2:
        raise ValueError(
            f"FlowVid-style propagation needs at least 2 frames (a first frame to edit and frames to carry the edit "
            f"to); the video has {video.shape[0]}. For a single image, use the image editor's output directly."
        )
    (height, width), edited_size = video.shape[1:3], tuple(edited.shape[1:3])
    if edited_size != (height, width):
        raise ValueError(
            f"the edited first frame is {edited_size[1]}x{edited_size[0]} but the video is {width}x{height}; the "
            "edit is warped pixel by pixel along the video's flow, so it must have the video's size (resize or crop "
            "one of them, e.g. with Upscale Image, before this node)"
        )
    if height % SPATIAL or width % SPATIAL or min(height, width) < MIN_SIZE:
        raise ValueError(
            f"frame sides must be multiples of {SPATIAL} and at least {MIN_SIZE} px (VAE latent and flow); the video "
            f"is {width}x{height}"
        )


def check_video_model(model: comfy.model_patcher.ModelPatcher) -> None:
    """The MODEL must be FancyVideo's video UNet: its image channels carry the reference frame."""
    settings = model.get_attachment(PATCH_KEY) if hasattr(model, "get_attachment") else None
    if settings is None or not settings.compute_motion:
        raise ValueError(
            "model must be an SD1.5 MODEL patched by FancyVideo Apply (FrameLoom): FlowVid-style propagation needs "
            "FancyVideo's motion modules and image-conditioning channels. Connect Load Checkpoint -> FancyVideo "
            "Apply (with FancyVideo Loader) -> this node's 'model'."
        )


@dataclass(frozen=True)
class SpatialControl:
    """FlowVid's spatial condition through a ComfyUI ControlNet: one hint image (canny, depth) per source frame."""

    control_net: object  # a comfy.controlnet.ControlBase (CONTROL_NET)
    hint: torch.Tensor  # IMAGE (N, H, W, 3)
    strength: float = 1.0


def check_control(control: SpatialControl, video: torch.Tensor) -> None:
    hint = control.hint
    if not isinstance(hint, torch.Tensor) or hint.dim() != 4 or hint.shape[0] != video.shape[0]:
        found = list(hint.shape) if isinstance(hint, torch.Tensor) else type(hint).__name__
        raise ValueError(
            f"hint must hold one image per source frame ({video.shape[0]}), so that the keyframes' rows can be "
            f"picked; found {found}. Make it from the same video (e.g. Canny Hint (FrameLoom) or a depth node)."
        )


def with_control(conditioning: list, control: SpatialControl, keys: list[int], vae: comfy.sd.VAE,
                 made: dict) -> list:
    """`conditioning` with the ControlNet hint of the keyframes `keys` chained after any ControlNet already on it.

    `made` shares one ControlNet copy per previous ControlNet between positive and negative, as ComfyUI's Apply
    ControlNet node does (the sampler then runs it once per step for both).
    """
    hint = control.hint[keys][..., :3].movedim(-1, 1)
    out = []
    for embedding, options in conditioning:
        previous = options.get("control")
        if previous not in made:
            net = control.control_net.copy().set_cond_hint(hint, control.strength, (0.0, 1.0), vae=vae)
            net.set_previous_controlnet(previous)
            made[previous] = net
        out.append([embedding, {**options, "control": made[previous], "control_apply_to_uncond": False}])
    return out


def check_flow(flow: VideoFlow, video: torch.Tensor) -> None:
    if not isinstance(flow, VideoFlow):
        raise ValueError(f"flow must come from Optical Flow (FrameLoom); got {type(flow).__name__}")
    size = tuple(video.shape[1:3])
    if flow.num_frames != video.shape[0] or flow.size != size or flow.reference_index != 0:
        raise ValueError(
            f"flow must be estimated on this video against frame 0: the video has {video.shape[0]} frames of "
            f"{size[1]}x{size[0]}, the flow {flow.num_frames} frames of {flow.size[1]}x{flow.size[0]} against frame "
            f"{flow.reference_index}. Feed Optical Flow (FrameLoom) the same frames, with reference_frame 0."
        )


def check_single_scene(video: torch.Tensor, threshold: float) -> None:
    """Refuse a clip with a scene cut: warping the first shot's edit into the next shot would smear it."""
    if threshold > 0:
        require_single_scene(histogram_cuts(video[..., :3].permute(0, 3, 1, 2), threshold))


def keyframe_flow(
    frames: torch.Tensor, keys: list[int], flow: Optional[VideoFlow]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(F_key0→key, F_key→key0) for the keyframes of one batch, frames (N, 3, H, W).

    A connected FLOW holds flow against frame 0 only, so it serves the first batch; later batches start from
    another frame and get DIS flow between their keyframes (flow for keyframes only: cheap on the CPU).
    """
    if flow is not None and keys[0] == 0:
        return flow.forward[keys], flow.backward[keys]
    return flow_pairs(frames[keys], 0, DisFlow("medium"))


def _strength_gate(sigma: torch.Tensor, denoise_mask: torch.Tensor, extra_options: dict) -> torch.Tensor:
    """ComfyUI denoise_mask_function: open each latent pixel once the remaining schedule share reaches its value."""
    sampling = extra_options["model"].inner_model.model_sampling
    sigmas = extra_options["sigmas"]
    end = torch.clamp(sigmas[-1], min=float(sampling.sigma_min))
    remaining = remaining_share(
        float(sampling.timestep(sigma[0])), float(sampling.timestep(sigmas[0])), float(sampling.timestep(end))
    )
    return open_pixels(denoise_mask, remaining)


def gated_model(model: comfy.model_patcher.ModelPatcher) -> comfy.model_patcher.ModelPatcher:
    gated = model.clone()
    gated.set_model_denoise_mask_function(_strength_gate)
    return gated


def encode(vae: comfy.sd.VAE, images: torch.Tensor) -> torch.Tensor:
    """IMAGE (n, H, W, 3) -> LATENT samples (n, 4, H/8, W/8) in VAE space."""
    if not isinstance(vae, comfy.sd.VAE):
        raise ValueError(f"vae must be an image VAE (Load Checkpoint / Load VAE); got {type(vae).__name__}")
    return vae.encode(images[..., :3]).float().to(mm.intermediate_device())


def generate_batch(
    model: comfy.model_patcher.ModelPatcher,
    positive: list,
    negative: list,
    vae: comfy.sd.VAE,
    reference: torch.Tensor,
    flow_fwd: torch.Tensor,
    flow_bwd: torch.Tensor,
    settings: PropagateSettings,
    seed: int,
    callback,
) -> torch.Tensor:
    """Keyframes IMAGE (n, H, W, 3) of one batch, frame 0 being `reference` (1, H, W, 3) carried through unchanged
    in the latent (it is decoded like the others; the caller keeps the exact pixels)."""
    condition = warp_condition(reference[..., :3].permute(0, 3, 1, 2).float(), flow_fwd, flow_bwd)
    warped = condition.warped.permute(0, 2, 3, 1)
    warped[0] = reference[0, :, :, :3]  # zero flow: the reference itself, without resampling round-off
    latent = encode(vae, warped)
    mask = strength_mask(condition.latent_mask, settings.strength, keep=(0,))
    n = latent.shape[0]
    positive = fancyvideo_image_conditioning(positive, model, latent[:1], n)
    negative = fancyvideo_image_conditioning(negative, model, latent[:1], n)
    noise = comfy.sample.prepare_noise(latent, seed)
    samples = comfy.sample.sample(
        model, noise, settings.steps, settings.cfg, settings.sampler_name, settings.scheduler, positive, negative,
        latent, denoise=1.0, noise_mask=mask, callback=callback, disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED,
        seed=seed,
    )
    occluded = float(condition.mask[1:].mean()) if n > 1 else 0.0
    logger.info("FlowVid-style batch: %d keyframes, %.1f%% of their pixels occluded", n, 100 * occluded)
    return vae.decode(samples).float().to(mm.intermediate_device())[..., :3]


def propagate_keyframes(
    model: comfy.model_patcher.ModelPatcher,
    positive: list,
    negative: list,
    vae: comfy.sd.VAE,
    video: torch.Tensor,
    edited: torch.Tensor,
    settings: PropagateSettings = PropagateSettings(),
    flow: Optional[VideoFlow] = None,
    control: Optional[SpatialControl] = None,
) -> torch.Tensor:
    """Keyframes IMAGE (K, H, W, 3) at keyframe_indices(N, interval); keyframe 0 is the edited frame, exactly."""
    check_frames(video, edited)
    check_video_model(model)
    if flow is not None:
        check_flow(flow, video)
    if control is not None:
        check_control(control, video)
    check_single_scene(video, settings.scene_cut_threshold)
    num_frames = video.shape[0]
    batches = keyframe_batches(num_frames, settings.interval, settings.keyframes_per_batch)
    logger.info("FlowVid-style: %d frames, %d keyframes in %d batches", num_frames,
                len(keyframe_indices(num_frames, settings.interval)), len(batches))
    frames = video[..., :3].permute(0, 3, 1, 2)
    first = edited[:1, :, :, :3].float().to(mm.intermediate_device())
    gated = gated_model(model)
    progress = SamplingProgress(model, settings.steps * len(batches))
    keyframes, reference = [first], first
    for index, keys in enumerate(batches):
        mm.throw_exception_if_processing_interrupted()
        flow_fwd, flow_bwd = keyframe_flow(frames, keys, flow)
        batch_positive, batch_negative = positive, negative
        if control is not None and control.strength != 0:
            made: dict = {}
            batch_positive = with_control(positive, control, keys, vae, made)
            batch_negative = with_control(negative, control, keys, vae, made)
        decoded = generate_batch(gated, batch_positive, batch_negative, vae, reference, flow_fwd, flow_bwd, settings,
                                 settings.seed + index, progress.callback(settings.steps * index))
        new = decoded[1:]
        if settings.calibrate_colors:
            calibrated = calibrate_colors(new.permute(0, 3, 1, 2), first.permute(0, 3, 1, 2))
            new = calibrated.clamp(0.0, 1.0).permute(0, 2, 3, 1)
        keyframes.append(new)
        reference = new[-1:]
    return torch.cat(keyframes).contiguous()


def rife_interpolator(rife_model, height: int, width: int) -> Interpolator:
    """RIFE (a RIFE_MODEL from RIFE Loader) as fill_gaps' interpolator, on ComfyUI's device."""
    # IFNet activations at full resolution: roughly 100 frame-sized buffers per sample (as RIFE Interpolate assumes).
    net = load_on_device(rife_model.patcher, extra_memory=height * width * 3 * 4 * 100 * 4)
    device, dtype = rife_model.patcher.load_device, rife_model.dtype

    def interpolate(img0: torch.Tensor, img1: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        out = interpolate_pair(net, img0.to(device, dtype), img1.to(device, dtype), timesteps.to(device, dtype))
        return out.float().to(mm.intermediate_device())

    return interpolate


def all_frames(keyframes: torch.Tensor, num_frames: int, interval: int, interpolate: Interpolator) -> torch.Tensor:
    """Every source frame from the keyframes, with ComfyUI progress and Cancel per gap."""
    gaps = max(len(keyframe_indices(num_frames, interval)) - 1, 1)
    return fill_gaps(keyframes, num_frames, interval, interpolate, comfy_hooks(gaps))
