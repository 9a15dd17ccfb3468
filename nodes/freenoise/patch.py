"""FreeNoise on a ComfyUI MODEL that carries FrameLoom's FancyVideo motion modules (a clone; the input is untouched).

Two parts, both attached to the clone:
* window fusion through the FancyVideo attend hook (transformer_options[ATTEND_OPTION]), the sinusoidal PE restarting
  at 0 in every window, the feed-forward after fusion on all frames (the motion module calls block.feed_forward on
  the hook's output). Two fused spans (FreeNoiseSettings.fused_span):
  - "attention" (official VideoCrafter FreeNoise): each temporal self-attention is fused on its own; q/k/v/out
    projections run once per frame, only the w x w attention runs per window (modules.freenoise.windowed_attention);
  - "stack" (AnimateDiff port, diffusers): the whole attention stack with its residuals runs per window, all windows
    batched (modules.freenoise.fuse_windows_batched); matches diffusers' FreeNoiseTransformerBlock;
* noise rescheduling: an OUTER_SAMPLE wrapper (noise_wrapper.NoiseRescheduler) reshuffles the initial noise along
  the latent batch, so every ComfyUI sampler and the stock KSampler get it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import torch

import comfy.model_patcher
import comfy.patcher_extension

from ...modules.fancyvideo.motion_module import AttendFn, PositionalEncoding, TemporalTransformerBlock
from ...modules.freenoise.fusion import TAIL_RULES, fuse_windows, fuse_windows_batched
from ...modules.freenoise.windowed_attention import attend_fused_attentions
from ...modules.freenoise.noise import NOISE_MODES
from ...modules.freenoise.windows import WEIGHTINGS, validate_context, validate_window_args
from ..fancyvideo.apply import PATCH_KEY as FANCYVIDEO_KEY
from ..fancyvideo.unet_patch import ATTEND_OPTION
from .noise_wrapper import NoiseRescheduler

logger = logging.getLogger("FrameLoom.freenoise")

PATCH_KEY = "frameloom_freenoise"
NOISE_OFF = "off"
FUSED_SPANS = ("attention", "stack")


@dataclass(frozen=True)
class FreeNoiseSettings:
    """FreeNoise options; the defaults are the paper's (window 16, stride 4, pyramid weights, shuffled noise).

    noise_mode: "official" (Python random.shuffle, AILab-CVC), "diffusers" (torch.randperm on the noise generator) or
    "off". shuffle_seed: None uses the sampler's seed. tail_rule: see modules.freenoise.fuse_windows.
    fused_span: "attention" (default; official FreeNoise, each temporal attention fused, shared projections, as fast
    as full attention at 64 frames and faster beyond) or "stack" (AnimateDiff port / diffusers: the attention stack
    per window, about 4x the projection work; reproduces diffusers' outputs).
    """

    context_length: int = 16
    stride: int = 4
    weighting: str = "pyramid"
    noise_mode: str = "official"
    shuffle_seed: Optional[int] = None
    tail_rule: str = "normalized"
    fused_span: str = "attention"

    def __post_init__(self) -> None:
        validate_window_args(self.context_length, self.stride)
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {self.weighting!r}")
        if self.noise_mode not in (*NOISE_MODES, NOISE_OFF):
            raise ValueError(f"noise_mode must be one of {', '.join((*NOISE_MODES, NOISE_OFF))}, got {self.noise_mode!r}")
        if self.tail_rule not in TAIL_RULES:
            raise ValueError(f"tail_rule must be one of {', '.join(TAIL_RULES)}, got {self.tail_rule!r}")
        if self.fused_span not in FUSED_SPANS:
            raise ValueError(f"fused_span must be one of {', '.join(FUSED_SPANS)}, got {self.fused_span!r}")
        if self.shuffle_seed is not None and self.shuffle_seed < 0:
            raise ValueError(f"shuffle_seed must be a non-negative whole number or None, got {self.shuffle_seed}")


@dataclass(frozen=True)
class FreeNoiseAttend:
    """The attend hook: the motion block's attention fused over context windows, in the settings' fused span.

    An attend hook installed before FreeNoise (`inner`) replaces the whole attention stack, so it can only be fused as
    a stack: it then runs per window, one window at a time (it may not treat a batch of windows independently).
    Small and immutable on purpose: ModelPatcher.clone() deep-copies model_options, where this object lives.
    """

    settings: FreeNoiseSettings
    inner: Optional[AttendFn] = None

    def __call__(self, block: TemporalTransformerBlock, x: torch.Tensor) -> torch.Tensor:
        s = self.settings
        windows = dict(context_length=s.context_length, stride=s.stride, weighting=s.weighting, tail_rule=s.tail_rule)
        if self.inner is not None:
            inner = self.inner
            return fuse_windows(lambda window: inner(block, window), x, frame_dim=1, **windows)
        if s.fused_span == "attention":
            return attend_fused_attentions(block, x, **windows)
        return fuse_windows_batched(block.attend, x, **windows)


def motion_pe_length(model_patcher: comfy.model_patcher.ModelPatcher) -> Optional[int]:
    """The shortest positional table among the MODEL's FancyVideo motion modules; None when it has none."""
    lengths = [
        module.max_len
        for patcher in model_patcher.get_additional_models_with_key(FANCYVIDEO_KEY)
        for module in patcher.model.modules()
        if isinstance(module, PositionalEncoding)
    ]
    return min(lengths) if lengths else None


def _video_frames(model_patcher: comfy.model_patcher.ModelPatcher) -> Optional[int]:
    """Frames per video when FancyVideo was told a fixed count (several videos in one latent batch), else None."""
    fancy = model_patcher.get_attachment(FANCYVIDEO_KEY)
    return getattr(fancy, "num_frames", None)


def apply_freenoise(
    model_patcher: comfy.model_patcher.ModelPatcher, settings: FreeNoiseSettings = FreeNoiseSettings()
) -> comfy.model_patcher.ModelPatcher:
    """A clone of a FancyVideo-patched MODEL with FreeNoise window fusion and noise rescheduling.

    Applying it again replaces the earlier FreeNoise settings instead of nesting windows.
    """
    pe_length = motion_pe_length(model_patcher)
    if pe_length is None:
        raise ValueError(
            "FreeNoise needs a MODEL with FrameLoom's FancyVideo motion modules, and this one has none: apply "
            "FancyVideo (with its motion modules on) to the SD1.5 model first, then FreeNoise"
        )
    validate_context(settings.context_length, pe_length)

    patched = model_patcher.clone()
    options = patched.model_options.setdefault("transformer_options", {})
    previous = options.get(ATTEND_OPTION)
    if isinstance(previous, FreeNoiseAttend):
        previous = previous.inner  # re-applying replaces the settings
    elif previous is not None:
        logger.info("FreeNoise windows wrap the temporal attend hook that was already installed (%r)", previous)
    if previous is not None and settings.fused_span == "attention":
        logger.warning(
            "FreeNoise: another temporal attend hook (%r) owns the attention stack, so it is fused as a whole stack "
            "per window instead of per attention", previous,
        )
    options[ATTEND_OPTION] = FreeNoiseAttend(settings, previous)

    rescheduler = NoiseRescheduler(
        mode=None if settings.noise_mode == NOISE_OFF else settings.noise_mode,
        context_length=settings.context_length,
        stride=settings.stride,
        shuffle_seed=settings.shuffle_seed,
        video_frames=_video_frames(model_patcher),
    )
    outer = comfy.patcher_extension.WrappersMP.OUTER_SAMPLE
    patched.remove_wrappers_with_key(outer, PATCH_KEY)
    patched.add_wrapper_with_key(outer, PATCH_KEY, rescheduler)
    patched.set_attachments(PATCH_KEY, settings)
    logger.info("FreeNoise applied: %s (motion PE length %d)", settings, pe_length)
    return patched

