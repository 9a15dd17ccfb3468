"""Classifier-free guidance for one batch of frames: InstructPix2Pix dual guidance, or plain CFG for other models.

InstructPix2Pix (Brooks et al.) guides with a text scale s_T and an image scale s_I:
    e = e(∅,∅) + s_I·(e(img,∅) − e(∅,∅)) + s_T·(e(img,txt) − e(img,∅))
ComfyUI's DualCFGGuider ("regular" style) computes exactly this with cond1 = positive + image, cond2 = negative + image,
negative = negative without image (IP2P models read a missing image as a zero latent). The image enters as
"concat_latent_image", as ComfyUI's InstructPixToPixConditioning node sets it: the source frames' VAE latents.
"""
from __future__ import annotations

import torch

import comfy.model_base
import comfy.samplers
from comfy.model_patcher import ModelPatcher

IMAGE_KEY = "concat_latent_image"


def is_instruct_pix2pix(model_patcher: ModelPatcher) -> bool:
    """True for InstructPix2Pix models (8-channel input: noisy latent + source latent)."""
    ip2p = getattr(comfy.model_base, "IP2P", None)
    return ip2p is not None and isinstance(model_patcher.model, ip2p)


def check_conditioning(name: str, conditioning: list) -> None:
    """A CONDITIONING is a non-empty list of [embedding tensor, options dict] pairs."""
    ok = isinstance(conditioning, list) and len(conditioning) > 0
    ok = ok and all(
        isinstance(e, (list, tuple)) and len(e) == 2 and isinstance(e[0], torch.Tensor) and isinstance(e[1], dict)
        for e in conditioning
    )
    if not ok:
        raise ValueError(
            f"{name} must be a CONDITIONING (a non-empty list of [tensor, dict] pairs, as CLIP Text Encode gives); "
            f"found {type(conditioning).__name__} {conditioning!r:.80}"
        )


def _with_image(conditioning: list, latent: torch.Tensor | None) -> list:
    """A copy of a CONDITIONING whose entries carry `latent` as the source image (None: no image)."""
    out = []
    for embedding, options in conditioning:
        options = {k: v for k, v in options.items() if k != IMAGE_KEY}
        if latent is not None:
            options[IMAGE_KEY] = latent
        out.append([embedding, options])
    return out


def _dual_cfg_guider_class():
    try:
        from comfy_extras.nodes_custom_sampler import Guider_DualCFG
    except ImportError as error:  # feature detection: older or trimmed ComfyUI builds
        raise RuntimeError(
            "InstructPix2Pix image guidance needs ComfyUI's DualCFGGuider (comfy_extras.nodes_custom_sampler), which "
            f"this ComfyUI does not provide ({error}); update ComfyUI"
        ) from error
    return Guider_DualCFG


def make_guider(
    model_patcher: ModelPatcher,
    positive: list,
    negative: list,
    source_latent: torch.Tensor,
    text_cfg: float,
    image_cfg: float,
    ip2p: bool,
) -> comfy.samplers.CFGGuider:
    """The guider that samples one batch whose source frames encode to `source_latent` [B, 4, h, w]."""
    if ip2p:
        guider = _dual_cfg_guider_class()(model_patcher)
        guider.set_conds(
            _with_image(positive, source_latent), _with_image(negative, source_latent), _with_image(negative, None)
        )
        guider.set_cfg(text_cfg, image_cfg)
        return guider
    guider = comfy.samplers.CFGGuider(model_patcher)
    guider.set_conds(positive, negative)
    guider.set_cfg(text_cfg)
    return guider
