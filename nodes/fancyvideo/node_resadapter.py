"""ResAdapter Apply: ResAdapter v2 (sampler-conv LoRA folded in, norm weights set) on an SD1.5 MODEL, as FancyVideo's
official configs always use it."""
from __future__ import annotations

import logging

import folder_paths
from comfy_api.latest import io

from ...modules.fancyvideo.resadapter import LORA_FILE, NORM_FILE, load_resadapter
from .handles import check_sd15
from .node_loaders import CATEGORY, model_path
from .resadapter import apply_resadapter

logger = logging.getLogger("FrameLoom.fancyvideo")

RESADAPTER_FOLDER = "frameloom_resadapter"


class FrameLoomResAdapterApply(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomResAdapterApply",
            display_name="ResAdapter Apply (FrameLoom)",
            category=CATEGORY,
            description=(
                "Applies ResAdapter v2 for SD1.5 to a MODEL, as FancyVideo's official pipeline always does: the "
                "rank-16 LoRA on the 3 down- and 3 up-sampler convs (scale 1/16, peft's default alpha, folded into the "
                "weights) and its normalisation weights. Weight patches on a clone: the base model is unchanged. Use "
                "it before FancyVideo Apply / FancyVideo Sampler. ResAdapter is trained for full strength, so no "
                "strength is offered (its norm weights replace the model's and cannot be scaled)."
            ),
            inputs=[
                io.Model.Input("model", tooltip="An SD1.5 checkpoint's MODEL (ResAdapter v2 sd1.5 fits SD1.5 only)."),
                io.Combo.Input(
                    "resadapter_name",
                    options=folder_paths.get_filename_list(RESADAPTER_FOLDER),
                    tooltip=f"A file of the released resadapter_v2_sd1.5 folder copied into models/frameloom/resadapter: "
                    f"choose {LORA_FILE} (the LoRA) or {NORM_FILE} (the norm weights); the other file of the pair is "
                    "read from the same folder under its released name. Both are required.",
                ),
            ],
            outputs=[io.Model.Output(display_name="model", tooltip="The MODEL with ResAdapter applied.")],
        )

    @classmethod
    def execute(cls, model, resadapter_name: str) -> io.NodeOutput:
        check_sd15(model)
        lora_state, norm_state = load_resadapter(model_path(RESADAPTER_FOLDER, resadapter_name))
        patched, report = apply_resadapter(model, lora_state, norm_state)
        if not report.applied:
            raise ValueError(
                f"none of the {len(norm_state)} ResAdapter norm weights in '{resadapter_name}' fit this UNet "
                f"({report.format()}); ResAdapter v2 sd1.5 needs an SD1.5 model"
            )
        logger.info("ResAdapter '%s' applied: norm weights %s", resadapter_name, report.format())
        return io.NodeOutput(patched)
