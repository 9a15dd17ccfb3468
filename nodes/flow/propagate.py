"""FlowVid-style Propagate: carry an edited first frame through a video along its optical flow (issue 7)."""
from __future__ import annotations

import torch

import comfy.model_management as mm
from comfy_api.latest import io

from ..rife import RifeModelType
from ..sampling_inputs import sampler_inputs
from .flowvid_run import (
    MAX_KEYFRAMES_PER_BATCH,
    PropagateSettings,
    SpatialControl,
    all_frames,
    propagate_keyframes,
    rife_interpolator,
)
from .node import FlowType

DEFAULTS = PropagateSettings()


class FrameLoomFlowVidEdit(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomFlowVidEdit",
            display_name="FlowVid-style Propagate (FrameLoom)",
            category="FrameLoom/flow",
            description=(
                "FlowVid-style video editing on weights that exist (FlowVid's own were never released): edit the "
                "first frame with any image editor, and this node carries the edit through the video. Every "
                "keyframe (every 'keyframe_interval'-th frame) starts from the edited frame warped along the video's "
                "optical flow; occluded regions are generated from noise, visible ones are refined SDEdit-style, and "
                "the edited frame conditions FancyVideo's image-to-video model. Batches of keyframes chain through "
                "their last keyframe, colours are matched to the edited frame, and RIFE fills the frames between "
                "keyframes, giving back every source frame. Training-free: expect less fidelity than FlowVid's "
                "trained model."
            ),
            inputs=[
                io.Model.Input("model", tooltip="An SD1.5 MODEL through FancyVideo Apply (FrameLoom): the video model "
                               "whose image channels take the edited frame."),
                io.Conditioning.Input("positive", tooltip="Prompt describing the edited video (CLIP Text Encode)."),
                io.Conditioning.Input("negative", tooltip="Negative prompt (CLIP Text Encode)."),
                io.Vae.Input("vae", tooltip="The SD1.5 image VAE (Load Checkpoint): encodes the warped keyframes, "
                             "decodes the result."),
                io.Image.Input("video", tooltip="The source video frames, in order (at least 2, one shot). Sides "
                               "must be multiples of 8."),
                io.Image.Input("edited_first_frame", tooltip="The edited frame 0, at the video's exact size (only "
                               "the first image of the batch is used)."),
                io.Float.Input("strength", default=DEFAULTS.strength, min=0.0, max=1.0, step=0.01,
                               tooltip="SDEdit strength for pixels the flow can follow: 0 keeps the warped edit "
                               "as is, 1 regenerates it from noise. 0.6-0.8 lets the model fix warping artefacts "
                               "while keeping the edit. Occluded pixels are always generated from noise."),
                io.Int.Input("keyframe_interval", default=DEFAULTS.interval, min=1, max=16,
                             tooltip="Generate every n-th frame (FlowVid: 4); RIFE fills the frames between. 1 "
                             "generates every frame."),
                io.Int.Input("keyframes_per_batch", default=DEFAULTS.keyframes_per_batch, min=2,
                             max=MAX_KEYFRAMES_PER_BATCH,
                             tooltip="Keyframes generated together (FlowVid: 16; at most 32, the motion modules' "
                             "range). Each batch starts from the last keyframe of the one before."),
                io.Int.Input("seed", default=DEFAULTS.seed, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Noise seed (batch b uses seed + b)."),
                io.Int.Input("steps", default=DEFAULTS.steps, min=1, max=200,
                             tooltip="Sampling steps over the full schedule; visible pixels take the last "
                             "'strength' share of them."),
                io.Float.Input("cfg", default=DEFAULTS.cfg, min=0.0, max=30.0, step=0.1,
                               tooltip="Classifier-free guidance scale (FancyVideo official: 7.5)."),
                *sampler_inputs(DEFAULTS.sampler_name, DEFAULTS.scheduler,
                                "Sampler (FancyVideo official: ddim).",
                                "Scheduler (ddim_uniform with ddim gives FancyVideo's official DDIM schedule)."),
                io.Boolean.Input("color_calibration", default=DEFAULTS.calibrate_colors,
                                 tooltip="Match each generated keyframe's per-channel mean and spread to the edited "
                                 "frame (FlowVid's global colour calibration); stops long videos drifting to gray."),
                io.Float.Input("scene_cut_threshold", default=DEFAULTS.scene_cut_threshold, min=0.0, max=1.0,
                               step=0.01,
                               tooltip="Refuse videos with a scene cut (colour-histogram distance between "
                               "neighbouring frames above this; 0 = no check). A cut would smear the edit across "
                               "shots: split the video there and edit each shot."),
                FlowType.Input("flow", optional=True,
                               tooltip="Optical Flow (FrameLoom) of this video against frame 0, e.g. RAFT for large "
                               "motion. Used for the first batch; later batches (and all batches when this is not "
                               "connected) use DIS between their keyframes."),
                RifeModelType.Input("rife_model", optional=True,
                                    tooltip="RIFE Loader (FrameLoom). Connected: the output has every source frame. "
                                    "Not connected: the output holds the keyframes only."),
                io.ControlNet.Input("control_net", optional=True,
                                    tooltip="FlowVid's spatial condition: an SD1.5 ControlNet (Load ControlNet Model), "
                                    "e.g. canny or depth. Needs 'hint'."),
                io.Image.Input("hint", optional=True,
                               tooltip="One hint image per source frame (Canny Hint (FrameLoom), or a depth map you "
                               "supply); the keyframes' rows are used."),
                io.Float.Input("control_strength", default=1.0, min=0.0, max=10.0, step=0.01, optional=True,
                               tooltip="ControlNet strength (0 = off). 0.5-1.0 keeps structure without fighting the "
                               "warped edit."),
            ],
            outputs=[
                io.Image.Output(display_name="images", tooltip="Every source frame when rife_model is connected (same "
                                "count and frame rate as the input), else the keyframes; float32 0..1."),
                io.Image.Output(display_name="keyframes", tooltip="The generated keyframes: frames 0, interval, "
                                "2 x interval, ... and the last frame."),
            ],
        )

    @classmethod
    def execute(cls, model, positive: list, negative: list, vae, video: torch.Tensor,
                edited_first_frame: torch.Tensor, strength: float, keyframe_interval: int, keyframes_per_batch: int,
                seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str, color_calibration: bool,
                scene_cut_threshold: float, flow=None, rife_model=None, control_net=None, hint=None,
                control_strength: float = 1.0) -> io.NodeOutput:
        settings = PropagateSettings(strength, keyframe_interval, keyframes_per_batch, seed, steps, cfg, sampler_name,
                                     scheduler, color_calibration, scene_cut_threshold)
        if (control_net is None) != (hint is None):
            missing = "hint" if hint is None else "control_net"
            raise ValueError(f"a spatial condition needs both 'control_net' and 'hint'; connect '{missing}' too")
        control = SpatialControl(control_net, hint, control_strength) if control_net is not None else None
        keyframes = propagate_keyframes(model, positive, negative, vae, video, edited_first_frame, settings, flow,
                                        control)
        images = keyframes
        if rife_model is not None:
            interpolate = rife_interpolator(rife_model, video.shape[1], video.shape[2])
            images = all_frames(keyframes, video.shape[0], keyframe_interval, interpolate)
        return io.NodeOutput(images.to(mm.intermediate_device()), keyframes.to(mm.intermediate_device()))


NODES: list[type[io.ComfyNode]] = [FrameLoomFlowVidEdit]
