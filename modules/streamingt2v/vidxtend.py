"""The VidXTend repack (HF benjamin-paine/vidxtend) of streaming_t2v.ckpt, read into the official key layout.

VidXTend stores the same three networks under diffusers component names; inside each part the parameter names are
those of the official StreamingModelscope modules, so the conversion is a rename of the top-level prefix only:

    VidXTend            streaming_t2v.ckpt['state_dict']
    unet.*          ->  base_model.*   UNet3D + APM (attn2.alpha/conv/conv_ln) + CAM mergers
                                       (cross_attention_merger_down_blocks.*, cross_attention_merger_mid_block.*)
    controlnet.*    ->  unet.*         CAM branch (encoder copy, mid block, controlnet_cond_embedding.*)
    resampler.*     ->  resampler.*    image-token resampler (context_embedding.0 / .2)
    vae.*, text_encoder.*              bundled ms-1.7b parts, passed through for the caller to skip

Source of the names (no weights were downloaded; derived from the module definitions): chaojie/ComfyUI_StreamingT2V
commit a73f6d4d0c46c7774c95c8d463b4c4c7b64b9e19, which vendors VidXTend's code under thirdparty/vidxtend/:
* models/unet_3d_condition.py `UNet3DConditionModel` (conv_in/conv_out as Conv2DExtendedChannels, an nn.Conv2d subclass
  with zero extension by default, so same names and shapes; merger lists `cross_attention_merger_down_blocks`,
  `cross_attention_merger_mid_block`);
* models/conditioning.py `ConditionalModel.temporal_transformer` = `CrossAttention` (norm, proj_in, attention, proj_out);
* models/attention_processor.py `Attention` (APM: `conv`, `conv_ln`, parameter `alpha`);
* models/controlnet.py `ControlNetModel` (conv_in, time_embedding, transformer_in, down_blocks, mid_block,
  controlnet_cond_embedding.{conv_in, blocks, conv_out}; merger and zero convs hold no parameters in this config);
* models/image_embedder.py `ImageEmbeddingContextResampler.context_embedding`;
* pipelines/pipeline_vidxtend.py `VidXTendPipeline.from_single_file` (splits each key at its first '.' into the
  component unet / controlnet / vae / text_encoder / resampler).
Every attribute holding parameters in those classes matches the official StreamingModelscope classes
(Picsart-AI-Research/StreamingT2V a8aceea, t2v_enhanced/model/diffusers_conditional/models/controlnet/).

The diffusers-folder form keeps each part as `<part>/diffusion_pytorch_model[.fp16].safetensors` with bare names.
"""
from __future__ import annotations

import logging
import os
from typing import Mapping

import torch

from ..common import CheckpointError, load_state_dict

logger = logging.getLogger("FrameLoom.streamingt2v")

# VidXTend component prefix -> streaming_t2v.ckpt prefix (the whole mapping: inner names are identical)
PART_PREFIXES: dict[str, str] = {"unet.": "base_model.", "controlnet.": "unet.", "resampler.": "resampler."}
BUNDLED_PREFIXES = ("vae.", "text_encoder.")
FOLDER_PARTS = tuple(p.rstrip(".") for p in PART_PREFIXES)
_PART_ROLES = {"unet": "the base UNet3D with APM and CAM mergers", "controlnet": "the CAM branch",
               "resampler": "the image-token resampler"}  # fmt: skip
# Part file names in the order tried; the fp16 variant halves the bytes read and is what the repack ships in folders.
_FP16_FILES = ("diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.fp16.bin")
_FULL_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")


def is_vidxtend_state(state: Mapping[str, torch.Tensor]) -> bool:
    """True for VidXTend's single-file layout: no official base_model.*, and controlnet.* or a full UNet under unet.*
    (up blocks exist only in the base UNet, never in the official unet.* = CAM branch), so a repack missing one part
    is still recognised and reported as such."""
    if any(k.startswith("base_model.") for k in state):
        return False
    return any(k.startswith(("controlnet.", "unet.up_blocks.")) for k in state)


def _rename(state: Mapping[str, torch.Tensor], table: Mapping[str, str], what: str) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in state.items():
        prefix = next((p for p in table if key.startswith(p)), None)
        if prefix is not None:
            out[table[prefix] + key[len(prefix):]] = value
        elif key.startswith(BUNDLED_PREFIXES):
            out[key] = value
        else:
            unknown.append(key)
    if unknown:
        more = f" (+{len(unknown) - 8} more)" if len(unknown) > 8 else ""
        raise CheckpointError(
            f"{len(unknown)} tensors of this {what} have no known prefix: {', '.join(sorted(unknown)[:8])}{more}. "
            f"Expected only {', '.join(tuple(table) + BUNDLED_PREFIXES)}"
        )
    missing = [p for p in table if not any(k.startswith(p) for k in state)]
    if missing:
        raise CheckpointError(
            f"this {what} is incomplete: no {', '.join(p + '*' for p in missing)} tensors. Expected all of "
            f"{', '.join(p + '*' for p in table)}"
        )
    return out


def vidxtend_to_official(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """VidXTend single-file names -> streaming_t2v.ckpt names (tensors shared, not copied).

    vae.* / text_encoder.* pass through unchanged; any other prefix, or a missing unet/controlnet/resampler part,
    raises CheckpointError listing the keys or parts.
    """
    return _rename(state, PART_PREFIXES, "VidXTend repack (unet., controlnet., resampler.)")


def official_to_vidxtend(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse rename (streaming_t2v.ckpt names -> VidXTend single-file names), e.g. to write a repack."""
    inverse = {official: repack for repack, official in PART_PREFIXES.items()}
    return _rename(state, inverse, "StreamingT2V checkpoint (base_model., unet., resampler.)")


def is_vidxtend_folder(path: str | os.PathLike) -> bool:
    """A directory holding VidXTend's unet/, controlnet/ and resampler/ subfolders."""
    return all(os.path.isdir(os.path.join(path, part)) for part in FOLDER_PARTS)


def find_vidxtend_folders(root: str | os.PathLike) -> list[str]:
    """VidXTend folders under `root` (itself included, as '.'), as sorted '/'-separated relative paths."""
    found: list[str] = []
    for current, dirs, _files in os.walk(root, followlinks=True):
        if is_vidxtend_folder(current):
            found.append(os.path.relpath(current, root).replace(os.sep, "/"))
            dirs.clear()  # the parts themselves are not repacks
    return sorted(found)


def part_file(folder: str | os.PathLike, part: str, prefer_fp16: bool = True) -> str:
    """The weight file of one VidXTend part folder; fp16 or full precision first as asked, else whichever exists."""
    directory = os.path.join(folder, part)
    names = _FP16_FILES + _FULL_FILES if prefer_fp16 else _FULL_FILES + _FP16_FILES
    for name in names:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    found = sorted(os.listdir(directory)) if os.path.isdir(directory) else "no such folder"
    raise CheckpointError(
        f"VidXTend folder '{os.path.basename(os.path.normpath(folder))}' lacks the {part} weights "
        f"({_PART_ROLES.get(part, part)}): expected {part}/{_FP16_FILES[0]} or {part}/{_FULL_FILES[0]}; found {found}"
    )


def load_vidxtend_folder(folder: str | os.PathLike, prefer_fp16: bool = True) -> dict[str, torch.Tensor]:
    """The unet/, controlnet/ and resampler/ parts of a VidXTend diffusers folder, in streaming_t2v.ckpt names.

    vae/ and text_encoder/ are not read (ComfyUI's own loaders provide them).
    """
    state: dict[str, torch.Tensor] = {}
    for part in FOLDER_PARTS:
        path = part_file(folder, part, prefer_fp16)
        logger.info("VidXTend %s: reading %s", part, os.path.relpath(path, folder))
        part_state = load_state_dict(path)
        state.update((f"{part}.{key}", value) for key, value in part_state.items())
    return vidxtend_to_official(state)
