"""RIFE frame interpolation nodes: load an IFNet checkpoint, interpolate an IMAGE batch."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch

import comfy.model_management as mm
import folder_paths
from comfy_api.latest import io

from ..modules.common import load_state_dict
from ..modules.common.download import download_pinned
from ..modules.rife import interpolate_video, load_ifnet, parse_version_hint
from .catalog import downloadable
from .paths import default_folder
from .patcher import PRECISIONS, load_on_device, pick_dtype, wrap_module
from .preview import animated_preview
from .progress import comfy_hooks

logger = logging.getLogger("FrameLoom.rife")

FOLDER = "frameloom_rife"
RifeModelType = io.Custom("FRAMELOOM_RIFE_MODEL")
SCALES = ("0.25", "0.5", "1.0", "2.0", "4.0")


@dataclass
class RifeModel:
    """What flows along a RIFE_MODEL link: the patcher (ComfyUI owns placement) and what the UI should know."""

    patcher: object
    version: str
    dtype: torch.dtype
    filename: str


def _model_choices() -> list[str]:
    local = folder_paths.get_filename_list(FOLDER)
    return sorted(set(local) | set(downloadable(FOLDER)))


def _resolve_file(model_name: str, download: bool) -> str:
    path = folder_paths.get_full_path(FOLDER, model_name)
    if path:
        return path
    pinned = downloadable(FOLDER).get(model_name)
    if pinned is None:
        raise FileNotFoundError(f"RIFE model '{model_name}' not found in {folder_paths.get_folder_paths(FOLDER)}")
    if not download:
        source = pinned.resolve_url()
        raise FileNotFoundError(
            f"RIFE model '{model_name}' is not in {default_folder(FOLDER)}. Put it there (source: {source}, "
            f"SHA-256 {pinned.sha256}) or switch 'download_if_missing' on."
        )
    return download_pinned(pinned, default_folder(FOLDER))


class FrameLoomRIFELoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomRIFELoader",
            display_name="RIFE Loader (FrameLoom)",
            category="FrameLoom/interpolation",
            description=(
                "Loads a RIFE v4.x IFNet checkpoint from models/frameloom/rife (flownet.pkl, .pth or .safetensors; "
                "versions 4.6 to 4.26.heavy, detected from the weights). Files are read without running any code."
            ),
            inputs=[
                io.Combo.Input(
                    "model_name",
                    options=_model_choices(),
                    tooltip="Checkpoint file in models/frameloom/rife. The version is detected from the tensors; "
                    "a version in the file name (rife417.pth, flownet_v4.13.pkl) picks between same-layout versions.",
                ),
                io.Combo.Input(
                    "precision",
                    options=list(PRECISIONS),
                    default="auto",
                    tooltip="auto: fp16 on GPUs that run it well, else fp32. Warping always runs in fp32.",
                ),
                io.Boolean.Input(
                    "download_if_missing",
                    default=False,
                    optional=True,
                    tooltip="Download a listed file from its pinned source when it is not on disk (SHA-256 checked). "
                    "Off by default: nothing is ever downloaded unless you switch this on.",
                ),
            ],
            outputs=[RifeModelType.Output(display_name="rife_model", tooltip="The loaded IFNet for RIFE Interpolate.")],
        )

    @classmethod
    def execute(cls, model_name: str, precision: str, download_if_missing: bool = False) -> io.NodeOutput:
        path = _resolve_file(model_name, download_if_missing)
        state = load_state_dict(path)
        net = load_ifnet(state, version_hint=parse_version_hint(os.path.basename(path)))
        dtype = pick_dtype(precision)
        net = net.to(dtype)
        logger.info("loaded RIFE %s from %s (%s)", net.version, model_name, dtype)
        return io.NodeOutput(RifeModel(wrap_module(net), net.version, dtype, model_name))


class FrameLoomRIFEInterpolate(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomRIFEInterpolate",
            display_name="RIFE Interpolate (FrameLoom)",
            category="FrameLoom/interpolation",
            description=(
                "Adds frames between every pair of input frames with RIFE. The original frames are kept exactly; "
                "frames stay on the CPU and pairs go to the GPU in batches, so long videos do not fill VRAM."
            ),
            inputs=[
                RifeModelType.Input("rife_model", tooltip="From RIFE Loader (FrameLoom)."),
                io.Image.Input("images", tooltip="The video frames, in order (at least 2)."),
                io.Int.Input(
                    "multiplier",
                    default=2,
                    min=1,
                    max=16,
                    tooltip="Output frames per input frame: 2 puts one new frame between each pair, 4 puts three.",
                ),
                io.Combo.Input(
                    "scale",
                    options=list(SCALES),
                    default="1.0",
                    tooltip="Flow resolution: 1.0 for up to 1080p, 0.5 for 4K (faster, coarser flow), 2.0 for small frames.",
                ),
                io.Boolean.Input(
                    "ensemble",
                    default=False,
                    tooltip="Also run the reversed pair and average (official RIFE ensemble; slower). "
                    "Only versions up to 4.20 have it; later versions refuse it.",
                ),
                io.Float.Input(
                    "scene_cut_threshold",
                    default=0.0,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="0 = off. Otherwise pairs whose difference score (0..1) exceeds it are treated as a cut and "
                    "not interpolated: the new frames repeat the earlier frame. About 0.1 suits most footage (hard cuts score well above it, motion within a shot below 0.05).",
                ),
                io.Int.Input(
                    "batch_size",
                    default=4,
                    min=1,
                    max=64,
                    tooltip="Frame pairs per GPU batch. Higher is faster until VRAM runs out; 4-8 suits 1080p on 24 GB.",
                ),
                io.Float.Input(
                    "fps",
                    default=24.0,
                    min=0.01,
                    max=1000.0,
                    step=0.01,
                    tooltip="Frame rate of the input. The fps output is fps x multiplier, for Create Video.",
                ),
            ],
            outputs=[
                io.Image.Output(display_name="images", tooltip="Interpolated frames, float32 0..1, in order."),
                io.Float.Output(display_name="fps", tooltip="The output frame rate: input fps x multiplier."),
            ],
        )

    @classmethod
    def execute(
        cls,
        rife_model: RifeModel,
        images: torch.Tensor,
        multiplier: int,
        scale: str,
        ensemble: bool,
        scene_cut_threshold: float,
        batch_size: int,
        fps: float,
    ) -> io.NodeOutput:
        pairs = max(images.shape[0] - 1, 0)
        frame_bytes = images.shape[1] * images.shape[2] * 3 * 4
        # IFNet activations at full resolution are roughly 100 frame-sized buffers per pair in the batch.
        net = load_on_device(rife_model.patcher, extra_memory=frame_bytes * 100 * batch_size)
        out = interpolate_video(
            net,
            images,
            multiplier,
            scale=float(scale),
            ensemble=ensemble,
            batch_size=batch_size,
            device=rife_model.patcher.load_device,
            dtype=rife_model.dtype,
            scene_cut_threshold=scene_cut_threshold if scene_cut_threshold > 0 else None,
            hooks=comfy_hooks(pairs),
        )
        out = out.to(mm.intermediate_device())
        out_fps = fps * multiplier
        return io.NodeOutput(out, out_fps, ui=animated_preview(out, out_fps, "FrameLoom_RIFE"))


NODES: list[type[io.ComfyNode]] = [FrameLoomRIFELoader, FrameLoomRIFEInterpolate]
