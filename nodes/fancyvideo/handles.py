"""What flows along FANCYVIDEO_MODEL and CVVAE links, and the SD1.5 check every FancyVideo node makes on a MODEL."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

import comfy.model_patcher
import comfy.supported_models
from comfy_api.latest import io

from ...modules.fancyvideo.cvvae import CVVAE
from ...modules.fancyvideo.loading import LATENT_CHANNELS, FancyVideoWeights
from .motion_patcher import FancyVideoModel, build_fancyvideo_model

logger = logging.getLogger("FrameLoom.fancyvideo")

FancyVideoModelType = io.Custom("FRAMELOOM_FANCYVIDEO_MODEL")
CVVAEType = io.Custom("FRAMELOOM_CVVAE")


@dataclass
class FancyVideoHandle:
    """Loaded FancyVideo weights. The motion model is built on first use for the base model's dtype and devices and
    then reused, so applying FancyVideo again (other fps, first-frame pass) costs no second copy of the weights."""

    weights: FancyVideoWeights
    filename: str
    _built: dict = field(default_factory=dict, repr=False)

    def model_for(self, model_patcher: comfy.model_patcher.ModelPatcher) -> FancyVideoModel:
        base = model_patcher.model
        dtype = base.manual_cast_dtype or base.get_dtype()
        key = (dtype, str(model_patcher.load_device), str(model_patcher.offload_device))
        if key not in self._built:
            self._built[key] = build_fancyvideo_model(
                self.weights, dtype=dtype, load_device=model_patcher.load_device,
                offload_device=model_patcher.offload_device,
            )
        return self._built[key]


class CVVAEHolder(torch.nn.Module):
    """ModelPatcher writes `model.device` when it moves a model; CVVAE derives `device` from its weights (read-only),
    so the patcher holds this plain container instead."""

    def __init__(self, cvvae: CVVAE) -> None:
        super().__init__()
        self.cvvae = cvvae


@dataclass
class CVVAEHandle:
    """A CV-VAE in its ModelPatcher (ComfyUI loads, offloads and unloads it like its own models)."""

    patcher: comfy.model_patcher.ModelPatcher
    dtype: torch.dtype
    filename: str

    @property
    def model(self) -> CVVAE:
        return self.patcher.model.cvvae


def _describe_model(model_patcher: comfy.model_patcher.ModelPatcher) -> str:
    model = getattr(model_patcher, "model", None)
    config = getattr(model, "model_config", None)
    if config is None:
        return f"a {type(model).__name__}"
    unet = getattr(config, "unet_config", {}) or {}
    fields = [f"{name} {unet[name]}" for name in ("context_dim", "model_channels", "in_channels") if name in unet]
    return f"{type(config).__name__} ({', '.join(fields)})" if fields else type(config).__name__


def check_sd15(model_patcher: comfy.model_patcher.ModelPatcher) -> None:
    """FancyVideo's motion modules and 9-channel conv_in are trained for the SD1.5 UNet with a 4-channel latent."""
    config = getattr(getattr(model_patcher, "model", None), "model_config", None)
    in_channels = (getattr(config, "unet_config", None) or {}).get("in_channels", LATENT_CHANNELS)
    if not isinstance(config, comfy.supported_models.SD15) or in_channels != LATENT_CHANNELS:
        raise ValueError(
            "FancyVideo needs an SD1.5 checkpoint (context_dim 768, model_channels 320, 4 latent input channels), "
            f"but this MODEL is {_describe_model(model_patcher)}. Load an SD1.5 model (e.g. realisticVisionV60B1) "
            "with Load Checkpoint."
        )
