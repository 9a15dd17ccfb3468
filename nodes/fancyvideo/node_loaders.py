"""Loader nodes: FancyVideo weights (FANCYVIDEO_MODEL) and FancyVideo's CV-VAE (CVVAE)."""
from __future__ import annotations

import logging
import os

import folder_paths
from comfy_api.latest import io

from ...modules.common import CheckpointError, load_state_dict
from ...modules.fancyvideo.cvvae import CVVAE
from ...modules.fancyvideo.loading import load_fancyvideo
from ..patcher import PRECISIONS, pick_dtype, wrap_module
from .handles import CVVAEHandle, CVVAEHolder, CVVAEType, FancyVideoHandle, FancyVideoModelType

logger = logging.getLogger("FrameLoom.fancyvideo")

CATEGORY = "FrameLoom/fancyvideo"
FANCYVIDEO_FOLDER = "frameloom_fancyvideo"
CVVAE_FOLDER = "frameloom_cvvae"


def model_path(folder: str, name: str) -> str:
    path = folder_paths.get_full_path(folder, name)
    if path is None:
        raise FileNotFoundError(f"'{name}' not found in {folder_paths.get_folder_paths(folder)}")
    return path


class FrameLoomFancyVideoLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomFancyVideoLoader",
            display_name="FancyVideo Loader (FrameLoom)",
            category=CATEGORY,
            description=(
                "Loads FancyVideo's trained additions to SD1.5 from models/frameloom/fancyvideo: the motion modules, "
                "the 9-channel conv_in (image latent + mask) and the fps / motion-score embeddings. Reads the official "
                "mp_rank_00_model_states.pt (61 or 125 frames, extending, backtracking) and Kosinkadink's "
                "FancyVideo_v1.safetensors; other tensors in the file are ignored, as the official loader does. The "
                "released weights contain no CTGM, so none is used. Files are read without running any code."
            ),
            inputs=[
                io.Combo.Input(
                    "model_name",
                    options=folder_paths.get_filename_list(FANCYVIDEO_FOLDER),
                    tooltip="A FancyVideo checkpoint in models/frameloom/fancyvideo, e.g. the official "
                    "fancyvideo_ckpts/vae_3d_61_frames folder copied there (subfolders are listed).",
                ),
            ],
            outputs=[FancyVideoModelType.Output(display_name="fancyvideo_model",
                                                tooltip="For FancyVideo Apply or FancyVideo Sampler.")],
        )

    @classmethod
    def execute(cls, model_name: str) -> io.NodeOutput:
        weights = load_fancyvideo(model_path(FANCYVIDEO_FOLDER, model_name))
        return io.NodeOutput(FancyVideoHandle(weights, model_name))


class FrameLoomCVVAELoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="FrameLoomCVVAELoader",
            display_name="CV-VAE Loader (FrameLoom)",
            category=CATEGORY,
            description=(
                "Loads FancyVideo's CV-VAE, the 3-D causal video VAE (4x time, 8x space: 16 latent frames <-> 61 "
                "frames, 32 <-> 125) from models/frameloom/cvvae. Its latent space is SD1.5's, so FancyVideo samples "
                "decode with it directly. Widths are read from the file; chunking and tiling keep the official geometry."
            ),
            inputs=[
                io.Combo.Input(
                    "vae_name",
                    options=folder_paths.get_filename_list(CVVAE_FOLDER),
                    tooltip="The CV-VAE weights in models/frameloom/cvvae: FancyVideo's CV-VAE/vae3d/"
                    "diffusion_pytorch_model.safetensors (the folder may be copied as it is).",
                ),
                io.Combo.Input(
                    "precision",
                    options=list(PRECISIONS),
                    default="auto",
                    tooltip="auto: fp16 on GPUs that run it well, else fp32. The official pipeline runs it in fp16.",
                ),
            ],
            outputs=[CVVAEType.Output(display_name="cvvae",
                                      tooltip="For CV-VAE Encode / Decode, FancyVideo Image to Video and the Sampler.")],
        )

    @classmethod
    def execute(cls, vae_name: str, precision: str) -> io.NodeOutput:
        path = model_path(CVVAE_FOLDER, vae_name)
        dtype = pick_dtype(precision)
        try:
            model = CVVAE.from_state_dict(load_state_dict(path), dtype=dtype)
        except CheckpointError as exc:
            raise CheckpointError(f"'{os.path.basename(path)}': {exc}") from exc
        logger.info("CV-VAE loaded from %s (%s)", vae_name, dtype)
        return io.NodeOutput(CVVAEHandle(wrap_module(CVVAEHolder(model)), dtype, vae_name))
