"""Modular FancyVideo nodes for the stock KSampler: Apply (MODEL patch) and Image to Video (conditioning + LATENT)."""
from __future__ import annotations

import torch

from comfy_api.latest import io

from .apply import apply_fancyvideo
from .generate import VideoSettings, image_to_video_inputs
from .handles import CVVAEType, FancyVideoHandle, FancyVideoModelType, check_sd15
from .node_loaders import CATEGORY
from .video_vae import AnyVAE

DEFAULTS = VideoSettings()
MAX_SIZE = 4096


def size_inputs(with_frames: bool = True) -> list[io.Input]:
    sizes = [
        io.Int.Input("width", default=DEFAULTS.width, min=8, max=MAX_SIZE, step=8,
                     tooltip="Video width in pixels, a multiple of 8 (official: 768; 1024 for landscape)."),
        io.Int.Input("height", default=DEFAULTS.height, min=8, max=MAX_SIZE, step=8,
                     tooltip="Video height in pixels, a multiple of 8 (official: 768; 1024 for portrait)."),
    ]
    return sizes if not with_frames else [
        *sizes,
        io.Int.Input("latent_frames", default=DEFAULTS.latent_frames, min=1, max=32,
                     tooltip="Latent frames (at most 32, the motion modules' range). Through CV-VAE Decode, L latent "
                     "frames give 4L-3 frames (16 -> 61, 32 -> 125); a 2D VAE gives L frames."),
    ]


def embedding_inputs() -> list[io.Input]:
    return [
        io.Float.Input("fps", default=DEFAULTS.fps, min=1.0, max=120.0, step=1.0,
                       tooltip="Frame-rate condition (official: 25). It steers motion speed; it does not set the "
                       "saved video's frame rate."),
        io.Float.Input("motion_score", default=DEFAULTS.motion_score, min=0.0, max=50.0, step=0.1,
                       tooltip="Motion-strength condition (official: 3.0; trained on RAFT optical-flow scores). "
                       "Higher asks for more motion."),
    ]


def conditioning_inputs(image_vae_note: str) -> list[io.Input]:
    """positive, negative and the VAE that encodes the reference (CV-VAE or a 2D image VAE)."""
    return [
        io.Conditioning.Input("positive", tooltip="The prompt's conditioning."),
        io.Conditioning.Input("negative", tooltip="The negative prompt's conditioning."),
        io.MultiType.Input("vae", types=[CVVAEType, io.Vae],
                           tooltip="CV-VAE (from CV-VAE Loader: official, decode with CV-VAE Decode) or an SD image VAE "
                           f"(approximation: {image_vae_note})."),
    ]


def conditioning_outputs(what: str) -> list[io.Output]:
    return [
        io.Conditioning.Output(display_name="positive", tooltip=f"Positive conditioning with {what}."),
        io.Conditioning.Output(display_name="negative", tooltip=f"Negative conditioning with {what}."),
    ]


class FrameLoomFancyVideoApply(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomFancyVideoApply",
            display_name="FancyVideo Apply (FrameLoom)",
            category=CATEGORY,
            description=(
                "Turns an SD1.5 MODEL into FancyVideo's video UNet for the stock KSampler: motion modules after "
                "every resnet/attention pair, the 9-channel conv_in (the model's own first 4 channels and bias, as "
                "the official pipeline does), fps and motion-score embeddings, and the zero-terminal-SNR "
                "v-prediction schedule (use sampler ddim with scheduler ddim_uniform, CFG 7.5, for the official "
                "50-step DDIM). The frames are the LATENT batch; give the image channels with FancyVideo Image to "
                "Video. CTGM is in no released checkpoint and is not offered."
            ),
            inputs=[
                io.Model.Input("model", tooltip="An SD1.5 checkpoint's MODEL (FancyVideo was trained on SD1.5)."),
                FancyVideoModelType.Input("fancyvideo_model", tooltip="From FancyVideo Loader (FrameLoom)."),
                *embedding_inputs(),
            ],
            outputs=[io.Model.Output(display_name="model", tooltip="The FancyVideo video model, for KSampler.")],
        )

    @classmethod
    def execute(cls, model, fancyvideo_model: FancyVideoHandle, fps: float, motion_score: float) -> io.NodeOutput:
        check_sd15(model)
        patched = apply_fancyvideo(model, fancyvideo_model.model_for(model), fps=fps, motion_score=motion_score)
        return io.NodeOutput(patched)


class FrameLoomFancyVideoImageToVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomFancyVideoImageToVideo",
            display_name="FancyVideo Image to Video (FrameLoom)",
            category=CATEGORY,
            description=(
                "Makes FancyVideo image-to-video inputs: the image is scaled to cover width x height and centre-"
                "cropped (the official pipeline only centre-crops, which cuts or pads images of another size), "
                "encoded by the VAE (the CV-VAE as a 1-frame video, its posterior mean; or a 2D image VAE), and "
                "attached to both conditionings as the first latent frame with its mask. Returns an empty video LATENT "
                "of latent_frames frames for KSampler with a FancyVideo Apply model."
            ),
            inputs=[
                *conditioning_inputs("decode each frame with VAE Decode"),
                io.Image.Input("image", tooltip="The first frame (only the batch's first image is used)."),
                *size_inputs(),
            ],
            outputs=[
                *conditioning_outputs("the image channels"),
                io.Latent.Output(display_name="latent", tooltip="Empty video latent: latent_frames x 4 x height/8 x width/8."),
            ],
        )

    @classmethod
    def execute(cls, positive: list, negative: list, vae: AnyVAE, image: torch.Tensor, width: int,
                height: int, latent_frames: int) -> io.NodeOutput:
        positive, negative, latent, _ = image_to_video_inputs(positive, negative, vae, image, width, height, latent_frames)
        return io.NodeOutput(positive, negative, latent)
