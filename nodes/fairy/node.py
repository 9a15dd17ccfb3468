"""The Fairy-style edit node: widget values in, edit_video out."""
from __future__ import annotations

import torch

import comfy.model_management as mm
from comfy_api.latest import io

from ..sampling_inputs import sampler_inputs
from ...modules.fairy import ANCHOR_RULES
from ..progress import comfy_hooks
from .sampling import FairyEditOptions, edit_video, plan_edit

_DEFAULTS = FairyEditOptions()


class FrameLoomFairyEdit(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomFairyEdit",
            display_name="Fairy-style Edit (FrameLoom)",
            category="FrameLoom/editing",
            description=(
                "Instruction-based video editing in the style of Fairy (arXiv 2312.13834). Meta released no code or "
                "weights for Fairy, so this is a Fairy-style reimplementation on an image editor you load yourself, "
                "best InstructPix2Pix (SD1.5): K anchor frames are edited together first and their attention "
                "keys/values are cached for every layer and step; every other frame then attends to its own tokens "
                "and the anchors', which keeps the edit consistent over time. Results do not depend on the batch "
                "size, and frame ranges edited on different machines join seamlessly. Fairy's equivariant "
                "finetuning is not reproduced, so fine detail may flicker more than in the paper."
            ),
            inputs=[
                io.Model.Input(
                    "model",
                    tooltip="The image editor: an InstructPix2Pix checkpoint (8-channel input) for instruction edits, "
                    "or any SD1.x/SD2.x/SDXL model for img2img with 'denoise' below 1.",
                ),
                io.Conditioning.Input("positive", tooltip="The edit instruction, e.g. 'make it Van Gogh style'."),
                io.Conditioning.Input("negative", tooltip="The negative prompt (often empty)."),
                io.Vae.Input("vae", tooltip="Encodes the source frames and decodes the edited ones."),
                io.Image.Input("images", tooltip="The source video frames, in order. Indices below are in this batch."),
                io.Int.Input(
                    "anchors",
                    default=_DEFAULTS.anchors,
                    min=1,
                    max=16,
                    tooltip="Anchor frames edited together and attended to by every frame. The paper finds 3 best; "
                    "1 is too restrictive, more than 7 slowly loses detail.",
                ),
                io.Combo.Input(
                    "anchor_rule",
                    options=list(ANCHOR_RULES),
                    default=_DEFAULTS.anchor_rule,
                    tooltip="How anchors spread over the video (the paper's exact rule is unpublished). "
                    "segment_centers: centres of K equal segments; linspace_with_endpoints: first and last frame included.",
                ),
                io.Int.Input(
                    "frames_per_batch",
                    default=_DEFAULTS.frames_per_batch,
                    min=1,
                    max=256,
                    tooltip="Non-anchor frames sampled together. Only speed and memory change, never the result: "
                    "raise it until VRAM runs short.",
                ),
                io.Int.Input("steps", default=_DEFAULTS.steps, min=1, max=200, tooltip="Sampling steps (paper: 10)."),
                *sampler_inputs(
                    _DEFAULTS.sampler_name,
                    _DEFAULTS.scheduler,
                    "Paper: euler_ancestral. Ancestral/SDE samplers draw their noise per frame, so batching "
                    "never changes a frame; euler or ddim are the deterministic alternatives.",
                    "Sigma schedule, as in KSampler.",
                ),
                io.Float.Input(
                    "text_cfg",
                    default=_DEFAULTS.text_cfg,
                    min=0.0,
                    max=30.0,
                    step=0.1,
                    tooltip="How strongly the instruction is followed (InstructPix2Pix text guidance; CFG for other models).",
                ),
                io.Float.Input(
                    "image_cfg",
                    default=_DEFAULTS.image_cfg,
                    min=0.0,
                    max=10.0,
                    step=0.05,
                    tooltip="InstructPix2Pix only: how closely the result keeps to the source frame (higher = closer). "
                    "Ignored by models without an image input.",
                ),
                io.Int.Input(
                    "seed",
                    default=0,
                    min=0,
                    max=0xFFFFFFFFFFFFFFFF,
                    control_after_generate=True,
                    tooltip="Noise seed. Each frame's noise comes from (seed, frame index), so use the same seed on "
                    "every machine when splitting a video into ranges.",
                ),
                io.Float.Input(
                    "denoise",
                    default=_DEFAULTS.denoise,
                    min=0.01,
                    max=1.0,
                    step=0.01,
                    tooltip="1.0 for InstructPix2Pix. Below 1 starts from the source latent (img2img), for plain SD models.",
                ),
                io.Int.Input(
                    "long_side",
                    default=_DEFAULTS.long_side,
                    min=0,
                    max=4096,
                    step=8,
                    tooltip="Frames are scaled so the long side has this many pixels, keeping the aspect ratio "
                    "(paper: 512). 0 keeps the size. Both sides are rounded to multiples of 8.",
                ),
                io.Int.Input(
                    "start_frame",
                    default=0,
                    min=0,
                    max=1_000_000,
                    optional=True,
                    tooltip="First frame to edit (index in the full video). For splitting a long video over several "
                    "machines: give each the full video, the same settings and seed, and its own range.",
                ),
                io.Int.Input(
                    "end_frame",
                    default=0,
                    min=0,
                    max=1_000_000,
                    optional=True,
                    tooltip="Frame after the last one to edit (exclusive); 0 = up to the last frame. The output holds "
                    "frames start_frame..end_frame-1, so the ranges' outputs concatenate into the full video.",
                ),
                io.Boolean.Input(
                    "shared_noise",
                    default=False,
                    optional=True,
                    tooltip="Give every frame the same starting and step noise (frame 0's). Often steadier; off draws "
                    "independent noise per frame.",
                ),
                io.Boolean.Input(
                    "offload_cache",
                    default=False,
                    optional=True,
                    tooltip="Keep the anchors' attention cache (about 2 GB at 512x384, 3 anchors, 10 steps, fp16) in "
                    "CPU memory instead of VRAM. Slower; use it when VRAM is short.",
                ),
            ],
            outputs=[
                io.Image.Output(
                    display_name="images",
                    tooltip="The edited frames of the range, float32 0..1, in order, at the working size.",
                )
            ],
        )

    @classmethod
    def execute(
        cls,
        model,
        positive: list,
        negative: list,
        vae,
        images: torch.Tensor,
        anchors: int,
        anchor_rule: str,
        frames_per_batch: int,
        steps: int,
        sampler_name: str,
        scheduler: str,
        text_cfg: float,
        image_cfg: float,
        seed: int,
        denoise: float,
        long_side: int,
        start_frame: int = 0,
        end_frame: int = 0,
        shared_noise: bool = False,
        offload_cache: bool = False,
    ) -> io.NodeOutput:
        options = FairyEditOptions(
            anchors=anchors,
            anchor_rule=anchor_rule,
            frames_per_batch=frames_per_batch,
            steps=steps,
            sampler_name=sampler_name,
            scheduler=scheduler,
            text_cfg=text_cfg,
            image_cfg=image_cfg,
            seed=seed,
            denoise=denoise,
            long_side=long_side,
            start_frame=start_frame,
            end_frame=end_frame,
            shared_noise=shared_noise,
            offload_cache=offload_cache,
        )
        plan = plan_edit(images.shape[0], options)
        out = edit_video(model, positive, negative, vae, images, options, hooks=comfy_hooks(plan.total_units))
        return io.NodeOutput(out.to(mm.intermediate_device()))


NODES: list[type[io.ComfyNode]] = [FrameLoomFairyEdit]
