"""Canny Hint: per-frame edge maps (kornia) for a ControlNet, e.g. FlowVid-style Propagate's spatial condition."""
from __future__ import annotations

import torch

import comfy.model_management as mm
from comfy_api.latest import io

from ...modules.flowvid import canny_hint


class FrameLoomCannyHint(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomCannyHint",
            display_name="Canny Hint (FrameLoom)",
            category="FrameLoom/flow",
            description=(
                "Canny edge maps of every frame (kornia), white on black as canny ControlNets expect: the spatial "
                "condition of FlowVid-style Propagate. Frames are processed a few at a time."
            ),
            inputs=[
                io.Image.Input("images", tooltip="The source video frames."),
                io.Float.Input("low_threshold", default=0.1, min=0.0, max=1.0, step=0.01,
                               tooltip="Weak-edge threshold on the gradient magnitude (0..1 images). Lower keeps "
                               "fainter edges."),
                io.Float.Input("high_threshold", default=0.2, min=0.01, max=1.0, step=0.01,
                               tooltip="Strong-edge threshold; must be above low_threshold. Higher keeps only "
                               "clear outlines."),
            ],
            outputs=[io.Image.Output(display_name="hint", tooltip="Edge images, one per frame, 0 or 1.")],
        )

    @classmethod
    def execute(cls, images: torch.Tensor, low_threshold: float, high_threshold: float) -> io.NodeOutput:
        return io.NodeOutput(canny_hint(images, low_threshold, high_threshold).to(mm.intermediate_device()))


NODES: list[type[io.ComfyNode]] = [FrameLoomCannyHint]
