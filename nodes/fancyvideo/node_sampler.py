"""The one-box FancyVideo sampler: text-to-video (first frame, then image-to-video), image-to-video, and video
extending / backtracking."""
from __future__ import annotations

from typing import Optional

import torch

from comfy_api.latest import io

from ..sampling_inputs import sampler_inputs
from .generate import DEFAULT_MODE, SAMPLER_MODES, VideoSettings, generate_video
from .handles import CVVAEHandle, CVVAEType, FancyVideoHandle, FancyVideoModelType
from .node_apply import DEFAULTS, embedding_inputs, size_inputs
from .node_loaders import CATEGORY


class FrameLoomFancyVideoSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomFancyVideoSampler",
            display_name="FancyVideo Sampler (FrameLoom)",
            category=CATEGORY,
            description=(
                "FancyVideo text-to-video and image-to-video in one node. Without an image it runs the official T2V: "
                "the same model first makes the opening frame as a still image (no motion modules, no fps/motion "
                "embeddings, epsilon schedule, decoded by the checkpoint's VAE), then animates it as image-to-video "
                "(zero-terminal-SNR v-prediction with motion modules). With an image it runs image-to-video directly; "
                "the image is scaled to cover the size and centre-cropped. Connect the CV-VAE to encode the reference "
                "as the official pipeline does, and decode the LATENT with CV-VAE Decode (16 latent frames -> 61 "
                "frames). Mode extend / backtrack continues a reference video forwards or backwards in time (32 latent frames; "
                "use the official video_extending / video_backtracking checkpoints). Defaults are the official "
                "settings; previews and Cancel work as in KSampler."
            ),
            inputs=[
                io.Model.Input("model", tooltip="An SD1.5 checkpoint's MODEL (not already patched by FancyVideo Apply)."),
                FancyVideoModelType.Input("fancyvideo_model", tooltip="From FancyVideo Loader (FrameLoom)."),
                io.Conditioning.Input("positive", tooltip="The prompt (the official configs append 'best quality, "
                                      "masterpiece, ultra high res, photorealistic' style terms)."),
                io.Conditioning.Input("negative", tooltip="The negative prompt."),
                io.Vae.Input("vae", tooltip="The checkpoint's image VAE: decodes the T2V first frame; also encodes the "
                             "reference when no CV-VAE is connected (then decode the frames with VAE Decode)."),
                *size_inputs(),
                *embedding_inputs(),
                io.Int.Input("seed", default=DEFAULTS.seed, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Noise seed for the first frame and the video."),
                io.Int.Input("steps", default=DEFAULTS.steps, min=1, max=200,
                             tooltip="Sampling steps per pass (official: 50; T2V runs two passes)."),
                io.Float.Input("cfg", default=DEFAULTS.cfg, min=0.0, max=30.0, step=0.1, round=0.01,
                               tooltip="Classifier-free guidance scale (official: 7.5)."),
                *sampler_inputs(
                    DEFAULTS.sampler_name,
                    DEFAULTS.scheduler,
                    "ddim with ddim_uniform reproduces the official 50-step DDIM (timesteps 981, 961, ..., 1).",
                    "Sigma schedule, as in KSampler.",
                ),
                io.Image.Input("image", optional=True,
                               tooltip="Optional first frame: image-to-video. Leave it unconnected for text-to-video."),
                CVVAEType.Input("cvvae", optional=True,
                                tooltip="Optional CV-VAE (official): encodes the reference frame; decode the LATENT "
                                "with CV-VAE Decode. Without it the image VAE is used (a per-frame approximation)."),
                io.Combo.Input("mode", options=list(SAMPLER_MODES), default=DEFAULT_MODE, optional=True,
                               tooltip="t2v/i2v: text-to-video, or image-to-video when an image is connected. extend: "
                               "continue the 'video' (its first 61 frames with CV-VAE, 16 with a 2D VAE, become the "
                               "first half of a 32-latent video). backtrack: make what came before it (the clip becomes "
                               "the second half). Extend/backtrack use 32 latent frames (125 frames with CV-VAE) and "
                               "the official video_extending / video_backtracking checkpoints."),
                io.Image.Input("video", optional=True,
                               tooltip="Reference clip for extend / backtrack (frames, e.g. from Load Video): resized "
                               "so its short side matches, centre-cropped to width x height, encoded with the CV-VAE "
                               "(needs at least 61 frames) or the image VAE (at least 16)."),
            ],
            outputs=[
                io.Latent.Output(display_name="latent", tooltip="The video latent [latent_frames, 4, height/8, width/8]."),
                io.Image.Output(display_name="first_frame",
                                tooltip="The reference the video is conditioned on: the first frame (generated in T2V, "
                                "fitted in I2V), or the fitted reference clip frames that were encoded (extend/backtrack)."),
            ],
        )

    @classmethod
    def execute(
        cls,
        model,
        fancyvideo_model: FancyVideoHandle,
        positive: list,
        negative: list,
        vae,
        width: int,
        height: int,
        latent_frames: int,
        fps: float,
        motion_score: float,
        seed: int,
        steps: int,
        cfg: float,
        sampler_name: str,
        scheduler: str,
        image: Optional[torch.Tensor] = None,
        cvvae: Optional[CVVAEHandle] = None,
        mode: str = DEFAULT_MODE,
        video: Optional[torch.Tensor] = None,
    ) -> io.NodeOutput:
        settings = VideoSettings(width, height, latent_frames, fps, motion_score, seed, steps, cfg, sampler_name, scheduler)
        latent, reference = generate_video(model, fancyvideo_model, positive, negative, vae, settings, image, cvvae,
                                           mode, video)
        return io.NodeOutput(latent, reference)
