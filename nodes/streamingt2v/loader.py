"""Reading streaming_t2v.ckpt (PAIR/StreamingT2V) into a StreamingT2V network, safely and without a second copy.

The Lightning file's `state_dict` holds the denoiser (base_model.*, unet.* = the CAM branch, resampler.*) beside
frozen copies of the ms-1.7b VAE and text encoder and the OpenCLIP image encoder; those are left to ComfyUI's own
VAE / CLIP / CLIP Vision loaders. The network is built on the meta device and adopts the file's tensors, so a
memory-mapped checkpoint is never duplicated in RAM before the cast to the working precision.
"""
from __future__ import annotations

import logging
import os

import torch

from ...modules.common import CheckpointError, load_state_dict
from ...modules.streamingt2v import StreamingT2V, load_streaming_t2v_weights
from ...modules.streamingt2v.layout import infer_config

logger = logging.getLogger("FrameLoom.streamingt2v")

FOLDER = "frameloom_streamingt2v"
BUNDLED_PREFIXES = ("vae.", "text_encoder.", "image_encoder.")


def _check_known_layouts(state: dict[str, torch.Tensor], name: str) -> None:
    """Name the layouts people most often pick up by mistake before the generic layout report."""
    if any(k.startswith("controlnet.") for k in state) and not any(k.startswith("base_model.") for k in state):
        raise CheckpointError(
            f"'{name}' looks like the VidXTend repack (unet./controlnet. prefixes). This loader reads PAIR's "
            "streaming_t2v.ckpt layout (base_model./unet./resampler.); use that file."
        )
    if any(k.startswith("model.diffusion_model.") for k in state):
        raise CheckpointError(
            f"'{name}' is a Stable Diffusion-style checkpoint (model.diffusion_model.*), not StreamingT2V. Expected "
            "streaming_t2v.ckpt from PAIR/StreamingT2V (keys base_model.*, unet.*, resampler.*)."
        )


def load_streaming_t2v(path: str, dtype: torch.dtype = torch.float32) -> StreamingT2V:
    """The StreamingT2V network stored in `path`, in eval mode and `dtype`; CheckpointError for any other file."""
    name = os.path.basename(path)
    state = load_state_dict(path)
    _check_known_layouts(state, name)
    bundled = sum(k.startswith(BUNDLED_PREFIXES) for k in state)
    if bundled:
        logger.info(
            "%s: ignoring %d tensors of the bundled VAE, text encoder and image encoder; connect ComfyUI's VAE, CLIP "
            "and CLIP Vision loaders instead",
            name,
            bundled,
        )
    config = infer_config(state)
    with torch.device("meta"):
        net = StreamingT2V(config)
    load_streaming_t2v_weights(net, state, assign=True)
    del state
    net = net.to(dtype).eval().requires_grad_(False)
    logger.info("loaded StreamingT2V from %s (%s, widths %s)", name, dtype, list(config.unet.block_out_channels))
    return net
