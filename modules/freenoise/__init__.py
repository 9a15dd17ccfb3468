"""FreeNoise (arXiv 2310.15169): noise rescheduling, window-fused temporal processing, prompts over time.

Training-free: these are composable functions that a motion module or a sampler wrapper calls; nothing here loads
weights of its own except the reference block used to check fusion against the reference vector.
"""
from .fusion import TAIL_RULES, WindowPlan, fuse_windows, fuse_windows_batched, window_plan
from .motion_injection import (
    PER_FRAME,
    TARGET,
    StepPrompts,
    motion_injection_plan,
    two_prompt_conditioning,
    two_prompt_weights,
)
from .noise import NOISE_MODES, apply_index_map, reschedule_noise, shuffle_index_map
from .prompt_schedule import (
    FrameBlend,
    PromptScheduleError,
    ScheduleEntry,
    SourcePosition,
    frame_weights,
    interpolate_per_frame,
    parse_prompt_schedule,
)
from .reference_block import FreeNoiseReferenceBlock, sinusoidal_table
from .windowed_attention import attend_fused_attentions, windowed_self_attention
from .windows import WEIGHTINGS, context_windows, tail_length, validate_context, window_weights

__all__ = [
    "FrameBlend",
    "FreeNoiseReferenceBlock",
    "NOISE_MODES",
    "PER_FRAME",
    "PromptScheduleError",
    "ScheduleEntry",
    "SourcePosition",
    "StepPrompts",
    "TAIL_RULES",
    "TARGET",
    "WEIGHTINGS",
    "WindowPlan",
    "attend_fused_attentions",
    "apply_index_map",
    "context_windows",
    "frame_weights",
    "fuse_windows",
    "fuse_windows_batched",
    "interpolate_per_frame",
    "motion_injection_plan",
    "parse_prompt_schedule",
    "reschedule_noise",
    "shuffle_index_map",
    "sinusoidal_table",
    "tail_length",
    "two_prompt_conditioning",
    "two_prompt_weights",
    "validate_context",
    "window_plan",
    "window_weights",
    "windowed_self_attention",
]
