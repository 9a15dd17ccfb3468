"""The prompt-schedule node: keyframe prompts in, a per-frame CONDITIONING out."""
from __future__ import annotations

from comfy_api.latest import io

from .schedule import encode_prompt_schedule

_EXAMPLE = '"0": "a camel walking in the desert, sunny day",\n"48": "a camel standing still, sunset"'


class FrameLoomPromptSchedule(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomPromptSchedule",
            display_name="Prompt Schedule (FrameLoom)",
            category="FrameLoom/freenoise",
            description=(
                "Prompts that change over a video: keyframe prompts, each encoded once with your CLIP, blended "
                "linearly between keyframes so every latent frame gets its own conditioning (one row per frame of the "
                "latent batch; use it as the positive of a KSampler whose latent has exactly 'frames' frames). "
                "Optionally FreeNoise's motion injection: at the early and late steps the input and middle blocks "
                "see the last prompt, which keeps the motion coherent while the content follows the schedule."
            ),
            inputs=[
                io.Clip.Input("clip", tooltip="The text encoder of your SD1.5 checkpoint."),
                io.String.Input(
                    "text",
                    multiline=True,
                    default=_EXAMPLE,
                    tooltip='Keyframes as "frame": "prompt", one per line or comma-separated; frames are latent '
                    "frame numbers from 0. Frames before the first key and after the last hold that prompt. "
                    "Errors name the line and column.",
                ),
                io.Int.Input(
                    "frames",
                    default=64,
                    min=1,
                    max=4096,
                    tooltip="Latent frames of the video (the latent batch size); keyframes must be below it.",
                ),
                io.Boolean.Input(
                    "motion_injection",
                    default=False,
                    tooltip="FreeNoise motion injection (paper defaults): outside steps 10-30% of the run, the input "
                    "and middle blocks' cross-attention sees the last prompt on all frames; output blocks always "
                    "follow the schedule. The negative prompt is never changed. Needs two or more prompts.",
                ),
            ],
            outputs=[
                io.Conditioning.Output(
                    display_name="conditioning",
                    tooltip="Per-frame conditioning (frames rows) for the positive input of a sampler.",
                )
            ],
        )

    @classmethod
    def execute(cls, clip, text: str, frames: int, motion_injection: bool = False) -> io.NodeOutput:
        if clip is None:
            raise ValueError("the prompt schedule needs a CLIP (text encoder); the checkpoint loaded has none")
        return io.NodeOutput(encode_prompt_schedule(clip, text, frames, motion_injection))
