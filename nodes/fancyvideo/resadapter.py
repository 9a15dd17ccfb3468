"""ResAdapter v2 on a ComfyUI SD1.5 MODEL as weight patches: folded LoRA deltas on the sampler convs, norm weights set."""
from __future__ import annotations

import logging
from typing import Mapping, Optional

import torch

import comfy.model_patcher
import comfy.utils

from ...modules.fancyvideo.resadapter import NormReport, resadapter_deltas, select_resadapter_norms

logger = logging.getLogger("FrameLoom.fancyvideo")


def apply_resadapter(
    model_patcher: comfy.model_patcher.ModelPatcher,
    lora_state: Mapping[str, torch.Tensor],
    norm_state: Optional[Mapping[str, torch.Tensor]] = None,
) -> tuple[comfy.model_patcher.ModelPatcher, NormReport]:
    """A clone with ResAdapter applied through ModelPatcher weight patches (the base weights are never modified)."""
    table = comfy.utils.unet_to_diffusers(dict(model_patcher.model.model_config.unet_config))
    prefix = "diffusion_model."
    deltas = resadapter_deltas(lora_state)
    missing = [name for name in deltas if name not in table]
    if missing:
        raise ValueError(f"ResAdapter convs {missing} do not exist in this UNet; ResAdapter v2 needs an SD1.5 model")
    model_shapes = {k: tuple(v.shape) for k, v in model_patcher.model_state_dict().items()}
    wrong = [f"{name} {list(delta.shape)} vs {list(model_shapes.get(prefix + table[name], ()))}"
             for name, delta in deltas.items() if model_shapes.get(prefix + table[name]) != tuple(delta.shape)]
    if wrong:
        raise ValueError(f"ResAdapter LoRA shapes do not fit this UNet ({'; '.join(wrong[:3])}); ResAdapter v2 sd1.5 "
                         "needs an SD1.5 model")
    patches = {prefix + table[name]: ("diff", (delta,)) for name, delta in deltas.items()}

    report = NormReport()
    if norm_state:
        shapes = {name: model_shapes[prefix + target] for name, target in table.items() if prefix + target in model_shapes}
        selected, report = select_resadapter_norms(norm_state, shapes)
        patches.update({prefix + table[name]: ("set", (value,)) for name, value in selected.items()})

    patched = model_patcher.clone()
    applied = patched.add_patches(patches, 1.0)
    if len(applied) != len(patches):
        raise ValueError(f"only {len(applied)} of {len(patches)} ResAdapter patches found their weight in the model")
    logger.info("ResAdapter applied: %d sampler convs, norm weights %s", len(deltas), report.format())
    return patched, report
