"""Reading streaming_t2v.ckpt (PAIR/StreamingT2V) or its VidXTend repack into a StreamingT2V network, safely and
without a second copy.

The Lightning file's `state_dict` holds the denoiser (base_model.*, unet.* = the CAM branch, resampler.*) beside
frozen copies of the ms-1.7b VAE and text encoder and the OpenCLIP image encoder; those are left to ComfyUI's own
VAE / CLIP / CLIP Vision loaders. VidXTend (benjamin-paine/vidxtend) stores the same networks as unet./controlnet./
resampler. (one file, or one diffusers folder per part); modules.streamingt2v.vidxtend renames them. The network is
built on the meta device and adopts the file's tensors, so a memory-mapped checkpoint is never duplicated in RAM
before the cast to the working precision.
"""
from __future__ import annotations

import logging
import os

import folder_paths
import torch

from ...modules.common import CheckpointError, load_state_dict
from ...modules.streamingt2v import StreamingT2V, load_streaming_t2v_weights
from ...modules.streamingt2v.layout import infer_config
from ...modules.streamingt2v.vidxtend import (
    find_vidxtend_folders,
    is_vidxtend_folder,
    is_vidxtend_state,
    load_vidxtend_folder,
    vidxtend_to_official,
)

logger = logging.getLogger("FrameLoom.streamingt2v")

FOLDER = "frameloom_streamingt2v"
BUNDLED_PREFIXES = ("vae.", "text_encoder.", "image_encoder.")
VIDXTEND_NAMES_NOTE = "(names as in streaming_t2v.ckpt: VidXTend's unet.* is base_model.*, its controlnet.* is unet.*)"


def _folder_prefix(folder: str) -> str:
    return "" if folder == "." else folder + "/"


def model_choices() -> list[str]:
    """The loader's list: files in models/frameloom/streamingt2v plus VidXTend folders (shown with a trailing '/').

    The part files inside a VidXTend folder (unet/, vae/, ...) are not offered on their own: alone they are not a model.
    """
    folders = sorted(
        {f for base in folder_paths.get_folder_paths(FOLDER) if os.path.isdir(base) for f in find_vidxtend_folders(base)}
    )
    prefixes = [_folder_prefix(f) for f in folders]

    def in_part(name: str) -> bool:
        return any(name.startswith(p) and "/" in name[len(p):] for p in prefixes)

    files = [f for f in folder_paths.get_filename_list(FOLDER) if not in_part(f.replace(os.sep, "/"))]
    return sorted(files) + [_folder_prefix(f) or "./" for f in folders]


def resolve_model_path(name: str) -> str:
    """Full path of a `model_choices()` entry: a file via ComfyUI's folder lookup, a VidXTend folder by its '/' name."""
    if not name.endswith("/"):
        return folder_paths.get_full_path_or_raise(FOLDER, name)
    relative = name.rstrip("/") or "."
    for base in folder_paths.get_folder_paths(FOLDER):
        candidate = os.path.normpath(os.path.join(base, relative))
        inside = os.path.commonpath([os.path.abspath(base), os.path.abspath(candidate)]) == os.path.abspath(base)
        if inside and is_vidxtend_folder(candidate):
            return candidate
    raise CheckpointError(
        f"VidXTend folder '{name}' not found in {folder_paths.get_folder_paths(FOLDER)}: expected a folder there with "
        "unet/, controlnet/ and resampler/ subfolders (diffusion_pytorch_model[.fp16].safetensors in each)"
    )


def _check_known_layouts(state: dict[str, torch.Tensor], name: str) -> None:
    """Name the layouts people most often pick up by mistake before the generic layout report."""
    if any(k.startswith("model.diffusion_model.") for k in state):
        raise CheckpointError(
            f"'{name}' is a Stable Diffusion-style checkpoint (model.diffusion_model.*), not StreamingT2V. Expected "
            "streaming_t2v.ckpt from PAIR/StreamingT2V (keys base_model.*, unet.*, resampler.*)."
        )


def _read_state(path: str, dtype: torch.dtype) -> tuple[dict[str, torch.Tensor], bool]:
    """The file's (or VidXTend folder's) tensors in streaming_t2v.ckpt names, and whether they came from VidXTend."""
    name = os.path.basename(os.path.normpath(path))
    try:
        if os.path.isdir(path):
            # fp16 part files halve the bytes read; full precision only when fp32 is the working precision
            return load_vidxtend_folder(path, prefer_fp16=dtype != torch.float32), True
        state = load_state_dict(path)
        if is_vidxtend_state(state):
            logger.info("%s: VidXTend single-file layout (unet./controlnet./resampler.)", name)
            return vidxtend_to_official(state), True
    except CheckpointError as exc:
        raise CheckpointError(f"'{name}': {exc}") from exc
    _check_known_layouts(state, name)
    return state, False


def load_streaming_t2v(path: str, dtype: torch.dtype = torch.float32) -> StreamingT2V:
    """The StreamingT2V network stored in `path`, in eval mode and `dtype`; CheckpointError for any other file.

    `path` is streaming_t2v.ckpt (or a copy with its keys), a VidXTend single file, or a VidXTend folder.
    """
    name = os.path.basename(os.path.normpath(path))
    state, repack = _read_state(path, dtype)
    bundled = sum(k.startswith(BUNDLED_PREFIXES) for k in state)
    if bundled:
        logger.info(
            "%s: ignoring %d tensors of the bundled VAE, text encoder and image encoder; connect ComfyUI's VAE, CLIP "
            "and CLIP Vision loaders instead",
            name,
            bundled,
        )
    try:
        config = infer_config(state)
        with torch.device("meta"):
            net = StreamingT2V(config)
        load_streaming_t2v_weights(net, state, assign=True)
    except CheckpointError as exc:
        if not repack:
            raise
        raise CheckpointError(f"VidXTend '{name}': {exc} {VIDXTEND_NAMES_NOTE}") from exc
    del state
    net = net.to(dtype).eval().requires_grad_(False)
    logger.info("loaded StreamingT2V from %s (%s, widths %s)", name, dtype, list(config.unet.block_out_channels))
    return net
