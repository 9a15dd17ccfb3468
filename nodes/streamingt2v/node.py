"""StreamingT2V nodes: the loader, the autoregressive Extend, and the randomized-blending MODEL patch."""
from __future__ import annotations

import comfy.model_management as mm
from comfy_api.latest import io

from ..sampling_inputs import sampler_inputs
from ...modules.streamingt2v.blending import RNG_MODES
from ..patcher import PRECISIONS, pick_dtype
from .blending import BlendingOptions, apply_randomized_blending
from .extend import ExtendSettings, anchor_embeddings, extend_video, fit_frames, resume_cache
from .loader import load_streaming_t2v, model_choices, resolve_model_path
from .model import StreamingT2VModel, wrap_streaming_t2v

StreamingT2VModelType = io.Custom("FRAMELOOM_STREAMINGT2V_MODEL")
_EXTEND = ExtendSettings()
_BLEND = BlendingOptions()


class FrameLoomStreamingT2VLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomStreamingT2VLoader",
            display_name="StreamingT2V Loader (FrameLoom)",
            category="FrameLoom/streamingt2v",
            description=(
                "Loads the StreamingT2V denoiser (arXiv 2403.14773: ModelScope UNet3D with CAM and APM) from "
                "streaming_t2v.ckpt (PAIR/StreamingT2V) or the VidXTend repack (one file or its folder) in "
                "models/frameloom/streamingt2v. Only tensors are read, "
                "never code. The file's bundled VAE, text and image encoders are skipped: load the ms-1.7b VAE, its "
                "OpenCLIP-H text encoder and an OpenCLIP ViT-H CLIP Vision model with ComfyUI's own loaders."
            ),
            inputs=[
                io.Combo.Input(
                    "model_name",
                    options=model_choices(),
                    tooltip="streaming_t2v.ckpt (25.6 GB Lightning checkpoint) or a safetensors copy with the same "
                    "keys; or VidXTend's vidxtend[.fp16].safetensors, or a VidXTend folder (listed with a trailing '/', "
                    "holding unet/, controlnet/, resampler/).",
                ),
                io.Combo.Input(
                    "precision",
                    options=list(PRECISIONS),
                    default="auto",
                    tooltip="auto: fp16 on GPUs that run it well (about 4.2 GB of weights), else fp32.",
                ),
            ],
            outputs=[
                StreamingT2VModelType.Output(
                    display_name="streamingt2v_model", tooltip="The denoiser, for StreamingT2V Extend."
                ),
                io.Model.Output(
                    display_name="model",
                    tooltip="The same denoiser as a ComfyUI MODEL, so model nodes (CFG tweaks, sampling patches) can "
                    "be applied before StreamingT2V Extend. It only samples through that node.",
                ),
            ],
        )

    @classmethod
    def execute(cls, model_name: str, precision: str) -> io.NodeOutput:
        dtype = pick_dtype(precision)
        net = load_streaming_t2v(resolve_model_path(model_name), dtype)
        patcher = wrap_streaming_t2v(net)
        return io.NodeOutput(StreamingT2VModel(patcher, dtype, model_name), patcher)


class FrameLoomStreamingT2VExtend(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomStreamingT2VExtend",
            display_name="StreamingT2V Extend (FrameLoom)",
            category="FrameLoom/streamingt2v",
            description=(
                "Extends a short clip into a long video with StreamingT2V: each new 16-frame chunk is sampled "
                "conditioned on the last 8 frames made so far (CAM) and on the clip's first frame (APM), and its "
                "frames 8..15 are appended, so the length is 16 + 8·k frames. Frames collect in CPU memory; the GPU "
                "holds one chunk at a time. Finished chunks are cached: after Cancel or an error, queueing the same "
                "graph again continues where it stopped. Generates at 256×256, the model's training size."
            ),
            inputs=[
                io.MultiType.Input(
                    "model",
                    types=[StreamingT2VModelType, io.Model],
                    tooltip="From StreamingT2V Loader: its streamingt2v_model, or its MODEL after ComfyUI model nodes.",
                ),
                io.Conditioning.Input(
                    "positive",
                    tooltip="Prompt from the ms-1.7b text encoder (OpenCLIP-H, 1024-d, 77 tokens) via CLIP Text Encode.",
                ),
                io.Conditioning.Input("negative", tooltip="Negative prompt (upstream default: empty)."),
                io.Vae.Input("vae", tooltip="The ms-1.7b VAE (SD-style, scale 0.18215): decodes every chunk."),
                io.ClipVision.Input(
                    "clip_vision",
                    tooltip="OpenCLIP ViT-H image encoder (e.g. clip_vision_h): encodes the anchor (the clip's first "
                    "frame) and the mid-gray frame of the negative branch.",
                ),
                io.Image.Input(
                    "images",
                    tooltip="The clip to continue: 16 frames (e.g. from a text-to-video model), or an earlier "
                    "StreamingT2V result (16 + 8·k frames) to extend it further. Centre-cropped and resized to size×size.",
                ),
                io.Int.Input(
                    "total_frames",
                    default=_EXTEND.total_frames,
                    min=16,
                    max=10_000,
                    step=8,
                    tooltip="Length of the output, input clip included: 16 + 8·k frames (24, 56, 80, 240, 1200, ...).",
                ),
                io.Int.Input(
                    "seed",
                    default=0,
                    min=0,
                    max=0xFFFFFFFFFFFFFFFF,
                    control_after_generate=True,
                    tooltip="Each chunk's noise seed is derived from this seed and the chunk's index.",
                ),
                io.Int.Input(
                    "steps", default=_EXTEND.steps, min=1, max=1000, tooltip="Sampling steps per chunk (upstream: 50)."
                ),
                io.Float.Input(
                    "cfg",
                    default=_EXTEND.cfg,
                    min=0.0,
                    max=30.0,
                    step=0.1,
                    tooltip="Guidance: positive = prompt + anchor frame, negative = negative prompt + gray frame "
                    "(upstream: 7.5).",
                ),
                *sampler_inputs(
                    _EXTEND.sampler_name,
                    _EXTEND.scheduler,
                    "euler_ancestral with ddim_uniform is the official DDIM with eta 1.0 (ComfyUI's 'ddim' "
                    "is eta 0).",
                    "ddim_uniform gives the official DDIM timesteps (981, 961, ..., 1 for 50 steps).",
                ),
                io.ClipVisionOutput.Input(
                    "clip_vision_output",
                    optional=True,
                    tooltip="Optional anchor embedding to use instead of the clip's first frame (CLIP Vision Encode, "
                    "crop none).",
                ),
                io.Int.Input(
                    "size",
                    default=_EXTEND.size,
                    min=32,
                    max=1024,
                    step=32,
                    optional=True,
                    tooltip="Frame size in pixels (square). The model was trained at 256; other sizes are experimental.",
                ),
            ],
            outputs=[io.Image.Output(display_name="images", tooltip="The whole video, input clip first, float32 0..1.")],
        )

    @classmethod
    def execute(
        cls,
        model,
        positive: list,
        negative: list,
        vae,
        clip_vision,
        images,
        total_frames: int,
        seed: int,
        steps: int,
        cfg: float,
        sampler_name: str,
        scheduler: str,
        clip_vision_output=None,
        size: int = _EXTEND.size,
    ) -> io.NodeOutput:
        patcher = model.patcher if isinstance(model, StreamingT2VModel) else model
        settings = ExtendSettings(total_frames, seed, steps, cfg, sampler_name, scheduler, size)
        clip = fit_frames(images, size)
        anchor = anchor_embeddings(clip_vision, clip_vision_output, clip[:1])
        cache = resume_cache(patcher, positive, negative, vae, clip, anchor, settings)
        out = extend_video(patcher, positive, negative, vae, clip, anchor, settings, cache)
        return io.NodeOutput(out.to(mm.intermediate_device()))


class FrameLoomRandomizedBlending(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomRandomizedBlending",
            display_name="Randomized Blending (FrameLoom)",
            category="FrameLoom/streamingt2v",
            description=(
                "StreamingT2V's randomized blending as a patch for any video MODEL, to enhance (SDEdit: low denoise) "
                "a video longer than the model's window. The latent is first trimmed to whole chunks "
                "(n·(chunk-overlap)+overlap frames, as upstream), then every step predicts each overlapping chunk "
                "and joins neighbours at a random frame inside their overlap, so no seam stays in one place. Frames "
                "in the batch (AnimateDiff, SVD) and 5-D video latents (Wan, Hunyuan, LTX: latent frames) work."
            ),
            inputs=[
                io.Model.Input("model", tooltip="The video model used for enhancement."),
                io.Int.Input(
                    "chunk_size",
                    default=_BLEND.chunk_size,
                    min=2,
                    max=1024,
                    tooltip="Frames per chunk (latent frames for 5-D video models); the model's usual window. Upstream: 24.",
                ),
                io.Int.Input(
                    "overlap",
                    default=_BLEND.overlap,
                    min=0,
                    max=1023,
                    tooltip="Frames shared by neighbouring chunks; the cut is drawn inside it every step. Upstream: 8.",
                ),
                io.Int.Input(
                    "seed",
                    default=0,
                    min=0,
                    max=0xFFFFFFFFFFFFFFFF,
                    tooltip="Seed of the cut positions (upstream draws them unseeded, so runs never repeat; here they do).",
                ),
                io.Combo.Input(
                    "rng",
                    options=list(RNG_MODES),
                    default=_BLEND.rng_mode,
                    tooltip="torch: a seeded torch generator. official: the sequence the official code draws after "
                    "random.seed(seed), for comparisons.",
                ),
            ],
            outputs=[io.Model.Output(display_name="model", tooltip="The patched model; sample it with any sampler node.")],
        )

    @classmethod
    def execute(cls, model, chunk_size: int, overlap: int, seed: int, rng: str) -> io.NodeOutput:
        return io.NodeOutput(apply_randomized_blending(model, BlendingOptions(chunk_size, overlap, seed, rng)))


NODES: list[type[io.ComfyNode]] = [FrameLoomStreamingT2VLoader, FrameLoomStreamingT2VExtend, FrameLoomRandomizedBlending]
