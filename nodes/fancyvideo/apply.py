"""apply_fancyvideo: turn a ComfyUI SD1.5 MODEL into FancyVideo's video UNet on a clone, for the stock samplers."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, Union

import torch

import comfy.model_patcher

from ...modules.fancyvideo.loading import FancyVideoWeights
from .motion_patcher import FancyVideoModel, build_fancyvideo_model
from .sampling import fancyvideo_model_sampling
from .unet_patch import CONV_IN_PATH, FpsMotionEmbPatch, MotionSlot, MotionSlotPatch, make_conv_in, slot_sites, with_slot

logger = logging.getLogger("FrameLoom.fancyvideo")

PATCH_KEY = "frameloom_fancyvideo"


@dataclass(frozen=True)
class FancyVideoSettings:
    """What apply_fancyvideo did to a MODEL (kept as an attachment; also guards against applying it twice)."""

    fps: Optional[float]
    motion_score: Optional[float]
    num_frames: Optional[int]
    compute_motion: bool
    sampling: Optional[str]


def _storage_dtype(model_patcher: comfy.model_patcher.ModelPatcher) -> torch.dtype:
    base = model_patcher.model
    return base.manual_cast_dtype or base.get_dtype()


def _base_conv_in(model_patcher: comfy.model_patcher.ModelPatcher) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's own conv_in weight and bias, even while a patched clone of it is loaded.

    get_model_object returns the original module when a loaded clone has object-patched the path; the weight-patch
    backup holds the unpatched tensors when a loaded clone has patched them in place.
    """
    conv = model_patcher.get_model_object(CONV_IN_PATH)

    def unpatched(name: str) -> torch.Tensor:
        backup = model_patcher.backup.get(f"{CONV_IN_PATH}.{name}")
        return backup.weight if backup is not None else getattr(conv, name)

    return unpatched("weight"), unpatched("bias")


def _check_fit(sites: list, fancy: FancyVideoModel) -> None:
    wanted = {s.motion_name: s.channels for s in sites}
    have = fancy.weights.module_channels
    if wanted != have:
        missing = sorted(set(wanted) - set(have))
        extra = sorted(set(have) - set(wanted))
        wrong = sorted(n for n in set(wanted) & set(have) if wanted[n] != have[n])
        raise ValueError(
            "these FancyVideo motion modules do not fit this UNet (FancyVideo needs an SD1.5 model): "
            f"missing {missing[:4]}, unused {extra[:4]}, wrong width {wrong[:4]}"
        )


def apply_fancyvideo(
    model_patcher: comfy.model_patcher.ModelPatcher,
    fancy: Union[FancyVideoWeights, FancyVideoModel],
    *,
    fps: Optional[float] = 25.0,
    motion_score: Optional[float] = 3.0,
    num_frames: Optional[int] = None,
    compute_motion: bool = True,
    sampling: Optional[str] = "v_zsnr",
) -> comfy.model_patcher.ModelPatcher:
    """A clone of `model_patcher` that runs as FancyVideo's UNet.

    fps / motion_score: the official defaults 25 and 3.0; None leaves that embedding out (the T2V first-frame image
    uses neither). num_frames: frames per video in the latent batch; None (the usual) treats each conditioning
    chunk of the batch as one video. compute_motion=False skips the motion modules (first-frame image).
    sampling: "v_zsnr" (video), "eps" (first-frame image) or None to keep the model's own model_sampling.
    Image conditioning comes from the conditioning (see conditioning.fancyvideo_image_conditioning); without it the
    image and mask channels are zero.
    """
    if model_patcher.get_attachment(PATCH_KEY) is not None:
        raise ValueError("FancyVideo is already applied to this MODEL; apply it to the plain SD1.5 model instead")
    diffusion_model = model_patcher.get_model_object("diffusion_model")
    if not hasattr(diffusion_model, "input_blocks"):
        raise ValueError(f"FancyVideo needs an SD1.5 UNet MODEL, got {type(diffusion_model).__name__}")
    if isinstance(fancy, FancyVideoWeights):
        fancy = build_fancyvideo_model(
            fancy, dtype=_storage_dtype(model_patcher),
            load_device=model_patcher.load_device, offload_device=model_patcher.offload_device,
        )
    sites = slot_sites(diffusion_model)
    _check_fit(sites, fancy)

    patched = model_patcher.clone()
    conv = make_conv_in(*_base_conv_in(model_patcher), fancy.weights.conv_in_weight, model_patcher.offload_device)
    patched.add_object_patch(CONV_IN_PATH, conv)

    uses_motion_model = False
    if compute_motion:
        for site in sites:
            path = f"diffusion_model.{site.block_path}"
            block = patched.get_model_object(path)
            patched.add_object_patch(path, with_slot(block, site.motion_name, mid_block=site.block_path == "middle_block"))
        patched.set_model_forward_timestep_embed_patch((MotionSlot, MotionSlotPatch(fancy.motion_model, num_frames)))
        uses_motion_model = True
    if fps is not None or motion_score is not None:
        if fps is not None and not fancy.weights.has_fps:
            raise ValueError("fps was given, but these FancyVideo weights have no fps_embedding; pass fps=None")
        if motion_score is not None and not fancy.weights.has_motion_score:
            raise ValueError("motion_score was given, but these FancyVideo weights have no motion_embedding; pass None")
        patched.set_model_emb_patch(FpsMotionEmbPatch(fancy.motion_model, fps, motion_score))
        uses_motion_model = True
    if uses_motion_model:
        patched.set_additional_models(PATCH_KEY, [fancy.patcher.clone()])
    if sampling is not None:
        patched.add_object_patch("model_sampling", fancyvideo_model_sampling(sampling))

    settings = FancyVideoSettings(fps, motion_score, num_frames, compute_motion, sampling)
    patched.set_attachments(PATCH_KEY, settings)
    logger.info("FancyVideo applied: %s", settings)
    return patched
