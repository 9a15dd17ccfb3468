"""The sampler/scheduler widgets and checks that FrameLoom's sampling nodes share with ComfyUI's KSampler."""
from __future__ import annotations

import comfy.samplers
from comfy_api.latest import io


def sampler_inputs(sampler_default: str, scheduler_default: str, sampler_tooltip: str, scheduler_tooltip: str) -> list:
    """The `sampler_name` and `scheduler` combos, offering exactly what KSampler offers."""
    return [
        io.Combo.Input("sampler_name", options=list(comfy.samplers.KSampler.SAMPLERS), default=sampler_default,
                       tooltip=sampler_tooltip),
        io.Combo.Input("scheduler", options=list(comfy.samplers.KSampler.SCHEDULERS), default=scheduler_default,
                       tooltip=scheduler_tooltip),
    ]


def check_sampler_names(sampler_name: str, scheduler: str) -> None:
    """Refuse names ComfyUI does not know (e.g. from a workflow made with another ComfyUI version)."""
    if sampler_name not in comfy.samplers.KSampler.SAMPLERS:
        raise ValueError(f"unknown sampler '{sampler_name}'; ComfyUI offers {comfy.samplers.KSampler.SAMPLERS}")
    if scheduler not in comfy.samplers.KSampler.SCHEDULERS:
        raise ValueError(f"unknown scheduler '{scheduler}'; ComfyUI offers {comfy.samplers.KSampler.SCHEDULERS}")
