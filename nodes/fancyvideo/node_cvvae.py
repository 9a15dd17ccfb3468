"""CV-VAE Encode / Decode nodes: whole videos in temporal chunks and spatial tiles, with progress and Cancel."""
from __future__ import annotations

import torch

from comfy_api.latest import io

from .handles import CVVAEHandle, CVVAEType
from .node_loaders import CATEGORY
from .video_vae import cvvae_decode, cvvae_encode

_CHUNKING = (
    "Works in the official 17-frame chunks and 576-px tiles (the frame stack stays on the CPU; only one chunk x tile "
    "is on the GPU at a time), with a progress bar per chunk; Cancel stops between chunks."
)


class FrameLoomCVVAEEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomCVVAEEncode",
            display_name="CV-VAE Encode (FrameLoom)",
            category=CATEGORY,
            description=(
                "Encodes a video with FancyVideo's CV-VAE: 4k+1 frames -> k+1 latent frames (61 -> 16, 125 -> 32, "
                "1 image -> 1). Other frame counts are refused with the nearest valid ones, because the CV-VAE would "
                "silently drop the trailing frames. Returns the posterior mean (deterministic; the official pipeline "
                "samples with an unseeded RNG). " + _CHUNKING
            ),
            inputs=[
                CVVAEType.Input("cvvae", tooltip="From CV-VAE Loader (FrameLoom)."),
                io.Image.Input("images", tooltip="Video frames in order, 4k+1 of them; width and height multiples of 8."),
            ],
            outputs=[io.Latent.Output(display_name="latent",
                                      tooltip="Video latent [latent frames, 4, H/8, W/8] in VAE space.")],
        )

    @classmethod
    def execute(cls, cvvae: CVVAEHandle, images: torch.Tensor) -> io.NodeOutput:
        return io.NodeOutput({"samples": cvvae_encode(cvvae, images)})


class FrameLoomCVVAEDecode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomCVVAEDecode",
            display_name="CV-VAE Decode (FrameLoom)",
            category=CATEGORY,
            description=(
                "Decodes a FancyVideo video latent with the CV-VAE: L latent frames -> 4L-3 frames (16 -> 61, 32 -> "
                "125). " + _CHUNKING
            ),
            inputs=[
                CVVAEType.Input("cvvae", tooltip="From CV-VAE Loader (FrameLoom)."),
                io.Latent.Input("latent", tooltip="A video latent from FancyVideo Sampler, KSampler or CV-VAE Encode."),
            ],
            outputs=[io.Image.Output(display_name="images", tooltip="The frames, float32 0..1, in order.")],
        )

    @classmethod
    def execute(cls, cvvae: CVVAEHandle, latent: dict) -> io.NodeOutput:
        return io.NodeOutput(cvvae_decode(cvvae, latent["samples"]))
