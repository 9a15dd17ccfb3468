"""The FreeNoise MODEL node: widget values in, apply_freenoise out."""
from __future__ import annotations

from comfy_api.latest import io

from ...modules.freenoise.windows import WEIGHTINGS
from .patch import FUSED_SPANS, NOISE_OFF, FreeNoiseSettings, apply_freenoise
from .schedule_node import FrameLoomPromptSchedule

# Widget value -> FreeNoiseSettings.noise_mode
NOISE_CHOICES = {"official_shuffle": "official", "diffusers_shuffle": "diffusers", "off": NOISE_OFF}
_DEFAULTS = FreeNoiseSettings()


class FrameLoomFreeNoise(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomFreeNoise",
            display_name="FreeNoise (FrameLoom)",
            category="FrameLoom/freenoise",
            description=(
                "FreeNoise (arXiv 2310.15169): long videos from FancyVideo's short-window motion modules, training-free. "
                "The temporal attention runs in overlapping context windows whose outputs are blended with window "
                "weights (feed-forward after the blend), and the initial noise of frames past the first window is "
                "made of shuffled copies of the first window's noise. Connect it after FancyVideo and sample with the "
                "stock KSampler; any latent length works. Use a deterministic sampler (euler, ddim, dpmpp_2m): "
                "ancestral/SDE samplers add fresh per-frame noise every step, which FreeNoise does not reschedule."
            ),
            inputs=[
                io.Model.Input("model", tooltip="An SD1.5 MODEL with FancyVideo applied (its motion modules are windowed)."),
                io.Int.Input(
                    "context_length",
                    default=_DEFAULTS.context_length,
                    min=1,
                    max=256,
                    tooltip="Frames per attention window (paper: 16). Must not exceed the motion modules' positional "
                    "table (32 for the released FancyVideo weights); longer videos than this are windowed.",
                ),
                io.Int.Input(
                    "context_stride",
                    default=_DEFAULTS.stride,
                    min=1,
                    max=256,
                    tooltip="Frames between window starts (paper: 4), at most context_length. Smaller = more overlap, "
                    "smoother and slower; the noise shuffle uses groups of this size.",
                ),
                io.Combo.Input(
                    "weighting",
                    options=list(WEIGHTINGS),
                    default=_DEFAULTS.weighting,
                    tooltip="How a window's frames count in the blend. pyramid (paper): 1..n/2..1, centre frames count "
                    "most; flat: all equal; delayed_reverse_sawtooth (diffusers): a window's later half counts.",
                ),
                io.Combo.Input(
                    "noise_mode",
                    options=list(NOISE_CHOICES),
                    default="official_shuffle",
                    tooltip="Noise rescheduling. official_shuffle: the authors' Python random.shuffle; "
                    "diffusers_shuffle: torch.randperm on the noise's generator, as diffusers; off: the sampler's "
                    "i.i.d. noise (windows only).",
                ),
                io.Int.Input(
                    "shuffle_seed",
                    default=-1,
                    min=-1,
                    max=0xFFFFFFFFFFFFFFFF,
                    tooltip="Seed of the noise shuffle; -1 uses the sampler's seed (recommended). The base noise "
                    "itself always comes from the sampler's seed.",
                ),
                io.Combo.Input(
                    "fused_span",
                    options=list(FUSED_SPANS),
                    default=_DEFAULTS.fused_span,
                    tooltip="What runs per window. attention (official FreeNoise, recommended): each temporal "
                    "attention is fused on its own and its projections are shared, about the cost of plain full "
                    "attention at 64 frames and cheaper beyond. stack (AnimateDiff port / diffusers): both temporal "
                    "attentions with their residuals per window, matching diffusers' outputs; slower.",
                ),
            ],
            outputs=[
                io.Model.Output(
                    display_name="model",
                    tooltip="The model with FreeNoise attached; sample it with any ComfyUI sampler.",
                )
            ],
        )

    @classmethod
    def execute(
        cls, model, context_length: int, context_stride: int, weighting: str, noise_mode: str, shuffle_seed: int = -1,
        fused_span: str = _DEFAULTS.fused_span,
    ) -> io.NodeOutput:
        if noise_mode not in NOISE_CHOICES:
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_CHOICES)}, got {noise_mode!r}")
        settings = FreeNoiseSettings(
            context_length=context_length,
            stride=context_stride,
            weighting=weighting,
            noise_mode=NOISE_CHOICES[noise_mode],
            shuffle_seed=None if shuffle_seed < 0 else shuffle_seed,
            fused_span=fused_span,
        )
        return io.NodeOutput(apply_freenoise(model, settings))


NODES = [FrameLoomFreeNoise, FrameLoomPromptSchedule]
