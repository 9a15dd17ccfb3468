"""Modular video extending / backtracking for the stock KSampler: conditioning + a 32-frame empty LATENT."""
from __future__ import annotations

import torch

from comfy_api.latest import io

from .node_apply import conditioning_inputs, conditioning_outputs, size_inputs
from .node_loaders import CATEGORY
from .video_condition import VIDEO_MODES, video_to_video_inputs
from .video_vae import AnyVAE


class FrameLoomFancyVideoVideoToVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomFancyVideoVideoToVideo",
            display_name="FancyVideo Extend/Backtrack (FrameLoom)",
            category=CATEGORY,
            description=(
                "Makes FancyVideo video extending / backtracking inputs for KSampler with a FancyVideo Apply model "
                "(load the official video_extending or video_backtracking checkpoint). The reference clip is resized "
                "(short side to the target's) and centre-cropped, its first 16 latents are encoded (61 frames through "
                "the CV-VAE, 16 through a 2D VAE) and attached to both conditionings at latent frames 0-15 (extend: "
                "the result starts with the clip and continues it) or 16-31 (backtrack: the result ends with the clip) "
                "with mask 1 there. Returns an empty 32-frame video LATENT (125 frames after CV-VAE Decode)."
            ),
            inputs=[
                *conditioning_inputs("one frame per latent; decode each frame with VAE Decode"),
                io.Image.Input("video", tooltip="The reference clip: at least 61 frames with the CV-VAE, 16 with a "
                               "2D VAE. Only the frames that shape its first 16 latents are encoded."),
                io.Combo.Input("mode", options=list(VIDEO_MODES), default=VIDEO_MODES[0],
                               tooltip="extend: the clip is the first half, the model continues it. backtrack: the "
                               "clip is the second half, the model makes what came before."),
                *size_inputs(with_frames=False),
            ],
            outputs=[
                *conditioning_outputs("the clip's latents"),
                io.Latent.Output(display_name="latent", tooltip="Empty video latent: 32 x 4 x height/8 x width/8."),
            ],
        )

    @classmethod
    def execute(cls, positive: list, negative: list, vae: AnyVAE, video: torch.Tensor, mode: str, width: int,
                height: int) -> io.NodeOutput:
        positive, negative, latent, _ = video_to_video_inputs(positive, negative, vae, video, width, height, mode)
        return io.NodeOutput(positive, negative, latent)
