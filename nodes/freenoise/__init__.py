"""FreeNoise in ComfyUI: window-fused FancyVideo motion modules, noise rescheduling for any sampler, prompt schedules.

apply_freenoise(model, FreeNoiseSettings(...)) -> MODEL clone; encode_prompt_schedule(clip, text, frames, ...) ->
per-frame CONDITIONING. NODES lists the node classes.
"""
from .node import NODES
from .patch import PATCH_KEY, FreeNoiseAttend, FreeNoiseSettings, apply_freenoise, motion_pe_length
from .schedule import PROMPT_FRAMES_KEY, encode_prompt_schedule

__all__ = [
    "NODES",
    "PATCH_KEY",
    "PROMPT_FRAMES_KEY",
    "FreeNoiseAttend",
    "FreeNoiseSettings",
    "apply_freenoise",
    "encode_prompt_schedule",
    "motion_pe_length",
]
