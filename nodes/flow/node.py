"""Optical-flow nodes: IMAGE -> FLOW (forward and backward flow against one reference frame), FLOW -> IMAGE preview."""
from __future__ import annotations

import logging

import torch

import comfy.model_management as mm
import folder_paths
from comfy_api.latest import io

from ...modules.common import CheckpointError
from ...modules.flow import (
    DEFAULT_ITERS,
    MODEL_FOLDER_HINT,
    DisFlow,
    RaftFlow,
    VideoFlow,
    flow_pairs,
    flow_to_rgb,
    load_raft_file,
)
from ..patcher import load_on_device, wrap_module
from ..progress import comfy_hooks

logger = logging.getLogger("FrameLoom.flow")

FOLDER = "frameloom_flow"
NO_FILE = "none"
METHODS = ("dis_medium", "dis_fast", "dis_ultrafast", "raft")
DIRECTIONS = ("backward", "forward")
FlowType = io.Custom("FRAMELOOM_FLOW")


def _model_choices() -> list[str]:
    return [NO_FILE, *sorted(folder_paths.get_filename_list(FOLDER))]


def _raft_estimator(model_name: str, iterations: int, height: int, width: int) -> RaftFlow:
    if model_name == NO_FILE:
        raise CheckpointError(
            "method 'raft' needs a RAFT-large weights file: put raft-things.pth or "
            f"raft_large_C_T_SKHT_V2-ff5fadd5.pth into ComfyUI's {MODEL_FOLDER_HINT}/ folder and choose it in "
            "'model_name' (or use a DIS method, which needs none)"
        )
    path = folder_paths.get_full_path(FOLDER, model_name)
    if path is None:
        raise CheckpointError(
            f"RAFT file '{model_name}' is not in {folder_paths.get_folder_paths(FOLDER)}; "
            f"put it in {MODEL_FOLDER_HINT}/"
        )
    patcher = wrap_module(load_raft_file(path))
    # One pair at a time: its correlation pyramid ((H/8·W/8)² floats, ×4/3 for the pooled levels) dominates; the
    # encoders and the convex upsampling add roughly 64 floats per pixel.
    cells = ((height + 7) // 8) * ((width + 7) // 8)
    model = load_on_device(patcher, extra_memory=int(cells * cells * 4 * 4 / 3) + height * width * 4 * 64)
    return RaftFlow(model, iterations)


class FrameLoomOpticalFlow(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomOpticalFlow",
            display_name="Optical Flow (FrameLoom)",
            category="FrameLoom/flow",
            description=(
                "Estimates optical flow between a reference frame (default: the first) and every frame, in both "
                "directions, as FlowVid-style editing needs: the backward flow warps the edited reference frame onto "
                "each frame, and the forward flow lets the forward-backward check find occlusions. DIS (OpenCV) needs "
                "no model file; RAFT-large uses weights you put in models/frameloom/flow. Frames are processed one "
                "at a time, so long clips do not fill memory."
            ),
            inputs=[
                io.Image.Input("images", tooltip="The video frames, in order."),
                io.Combo.Input(
                    "method",
                    options=list(METHODS),
                    default="dis_medium",
                    tooltip="dis_medium: accurate and fast on the CPU (default). dis_fast / dis_ultrafast: quicker, "
                    "noisier. Every frame is matched against the reference, so displacement grows along the clip: DIS "
                    "follows up to about 50 px at 256 px and 64 px at 512 px. raft: learned RAFT-large on the GPU, "
                    "for larger motion; needs 'model_name'.",
                ),
                io.Int.Input(
                    "reference_frame",
                    default=0,
                    min=0,
                    max=1_000_000,
                    tooltip="Index of the frame every other frame is matched against (FlowVid: the first frame, 0).",
                ),
                io.Combo.Input(
                    "model_name",
                    options=_model_choices(),
                    default=NO_FILE,
                    optional=True,
                    tooltip="RAFT-large weights in models/frameloom/flow, used only by method 'raft': raft-things.pth "
                    "(princeton-vl/RAFT) or raft_large_C_T_SKHT_V2-ff5fadd5.pth (torchvision); read without "
                    "running code.",
                ),
                io.Int.Input(
                    "iterations",
                    default=DEFAULT_ITERS,
                    min=1,
                    max=64,
                    optional=True,
                    tooltip="RAFT refinement steps (12 as in RAFT's defaults; 20-32 refine a little further at "
                    "proportional cost). Ignored by DIS.",
                ),
            ],
            outputs=[
                FlowType.Output(
                    display_name="flow",
                    tooltip="Forward (reference -> frame i) and backward (frame i -> reference) flow for every frame, "
                    "in pixels, channel 0 = dx, 1 = dy; float32 on the CPU.",
                )
            ],
        )

    @classmethod
    def execute(
        cls,
        images: torch.Tensor,
        method: str,
        reference_frame: int,
        model_name: str = NO_FILE,
        iterations: int = DEFAULT_ITERS,
    ) -> io.NodeOutput:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}; got '{method}'")
        if images.dim() != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(f"images must be an IMAGE batch [N, H, W, 3]; found shape {list(images.shape)}")
        n, h, w = images.shape[:3]
        if reference_frame >= n:
            raise ValueError(
                f"reference_frame {reference_frame} is past the last frame ({n - 1}) of the {n} input frames"
            )
        if method == "raft":
            estimator = _raft_estimator(model_name, iterations, h, w)
        else:
            estimator = DisFlow(method.removeprefix("dis_"))
        frames = images.permute(0, 3, 1, 2)  # a view: frames are read one at a time, never copied whole
        logger.info("%s flow: %d frames of %dx%d against frame %d", method, n, w, h, reference_frame)
        forward, backward = flow_pairs(frames, reference_frame, estimator, comfy_hooks(n))
        return io.NodeOutput(VideoFlow(forward, backward, reference_frame, method))


class FrameLoomFlowPreview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomFlowPreview",
            display_name="Flow Preview (FrameLoom)",
            category="FrameLoom/flow",
            description=(
                "Shows a FLOW as colour images (Middlebury colour wheel): hue is the direction of motion, saturation "
                "its size; white is still. One scale for the whole clip, so colours compare across frames."
            ),
            inputs=[
                FlowType.Input("flow", tooltip="From Optical Flow (FrameLoom)."),
                io.Combo.Input(
                    "direction",
                    options=list(DIRECTIONS),
                    default="backward",
                    tooltip="backward: frame i -> reference, drawn on frame i's pixels (what warping uses). "
                    "forward: reference -> frame i, drawn on the reference frame's pixels.",
                ),
                io.Float.Input(
                    "max_magnitude",
                    default=0.0,
                    min=0.0,
                    max=10000.0,
                    step=0.5,
                    tooltip="Motion in pixels shown fully saturated; larger motion is darkened. 0 = the largest "
                    "motion in the clip.",
                ),
            ],
            outputs=[io.Image.Output(display_name="images", tooltip="One colour image per frame, float32 0..1.")],
        )

    @classmethod
    def execute(cls, flow: VideoFlow, direction: str, max_magnitude: float) -> io.NodeOutput:
        if not isinstance(flow, VideoFlow):
            raise ValueError(f"flow must come from Optical Flow (FrameLoom); got {type(flow).__name__}")
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}; got '{direction}'")
        field = flow.backward if direction == "backward" else flow.forward
        return io.NodeOutput(flow_to_rgb(field, max_magnitude).to(mm.intermediate_device()))


NODES: list[type[io.ComfyNode]] = [FrameLoomOpticalFlow, FrameLoomFlowPreview]
