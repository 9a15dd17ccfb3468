"""FancyVideo's motion model wrapped in its own ModelPatcher, so ComfyUI loads and offloads it with the UNet."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional

import torch

import comfy.model_management as mm
import comfy.model_patcher
import comfy.ops

from ...modules.fancyvideo.loading import FancyVideoWeights
from ...modules.fancyvideo.motion_model import FancyVideoMotionModel

logger = logging.getLogger("FrameLoom.fancyvideo")

STORAGE_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@dataclass
class FancyVideoModel:
    """Loaded FancyVideo weights plus the built motion model and its ModelPatcher (build once, apply many times)."""

    weights: FancyVideoWeights
    motion_model: FancyVideoMotionModel
    patcher: comfy.model_patcher.ModelPatcher


def build_fancyvideo_model(
    weights: FancyVideoWeights,
    *,
    dtype: Optional[torch.dtype] = None,
    load_device: Any = None,
    offload_device: Any = None,
) -> FancyVideoModel:
    """Motion modules and embeddings with ComfyUI's casting ops (any compute dtype, low-VRAM partial loading)."""
    load_device = load_device or mm.get_torch_device()
    offload_device = offload_device or mm.unet_offload_device()
    dtype = dtype if dtype in STORAGE_DTYPES else mm.unet_dtype(load_device)
    model = weights.build_motion_model(ops=comfy.ops.manual_cast, dtype=dtype, device=offload_device)
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=load_device, offload_device=offload_device)
    logger.info("FancyVideo motion model built: %d modules, %s on %s", len(model.module_names), dtype, offload_device)
    return FancyVideoModel(weights, model, patcher)
