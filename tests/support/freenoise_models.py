"""Tiny in-process models for the FreeNoise ComfyUI tests: a FancyVideo-patched SD1.5-shaped UNet and a real CLIP.

Everything is built at test time with seeded random weights. The motion modules, conv_in and fps/motion embeddings
come from the tiny FancyVideo reference (vectors/fancyvideo_tiny_unet.safetensors, width 32, PE length 32); the
SD1.5 layers are random, which is all these tests need (they check plumbing and window maths, not image quality).
Import the pack first (the `frameloom` fixture): the helpers import it as 'FrameLoom', as ComfyUI does.
"""
from __future__ import annotations

import functools
import pathlib

import torch
from safetensors.torch import load_file

TINY_UNET = {
    "block_out_channels": [32, 32], "layers_per_block": 1, "cross_attention_dim": 32,
    "down_block_types": ["CrossAttnDownBlock3D", "DownBlock3D"], "up_block_types": ["UpBlock3D", "CrossAttnUpBlock3D"],
}
# A CLIP-L-shaped text encoder at width 32 (the tiny UNet's cross-attention width), with ComfyUI's real SD1 tokenizer.
TINY_CLIP = {
    "architectures": ["CLIPTextModel"], "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0,
    "eos_token_id": 49407, "hidden_act": "quick_gelu", "hidden_size": 32, "initializer_factor": 1.0,
    "initializer_range": 0.02, "intermediate_size": 64, "layer_norm_eps": 1e-5, "max_position_embeddings": 77,
    "model_type": "clip_text_model", "num_attention_heads": 2, "num_hidden_layers": 2, "pad_token_id": 1,
    "projection_dim": 32, "vocab_size": 49408,
}



def _fill(module: torch.nn.Module, seed: int, scale: float) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * scale)


def fancyvideo_weights(vectors_dir: pathlib.Path):
    """FancyVideoWeights of the tiny reference UNet (motion modules with PE length 32, conv_in, embeddings)."""
    from FrameLoom.modules.fancyvideo.loading import fancyvideo_weights_from_state_dict

    path = vectors_dir / "fancyvideo_tiny_unet.safetensors"
    state = load_file(str(path))
    return fancyvideo_weights_from_state_dict({k[2:]: v.float() for k, v in state.items() if k.startswith("w.")})


def sd15_model(comfy_runtime, seed: int = 0, unet: dict = TINY_UNET):
    """A random-weight SD15-shaped ModelPatcher at a small width (`unet`: diffusers-style block config); GroupNorms at
    8 groups so that narrow layers keep their per-channel signal."""
    import comfy.model_patcher
    import comfy.supported_models

    from FrameLoom.nodes.fancyvideo import comfy_unet_config

    config = comfy_unet_config(unet)
    model = comfy.supported_models.SD15(config).get_model({})
    for module in model.diffusion_model.modules():
        if isinstance(module, torch.nn.GroupNorm):
            module.num_groups = 8
    _fill(model.diffusion_model, seed, 0.1)
    device = comfy_runtime.get_torch_device()
    return comfy.model_patcher.ModelPatcher(model, load_device=device, offload_device=comfy_runtime.unet_offload_device())


def fancyvideo_model(comfy_runtime, vectors_dir: pathlib.Path, **options):
    """The tiny SD1.5 model with FancyVideo applied (options go to apply_fancyvideo)."""
    from FrameLoom.nodes.fancyvideo import apply_fancyvideo

    return apply_fancyvideo(sd15_model(comfy_runtime), fancyvideo_weights(vectors_dir), **options)


def random_fancyvideo_weights(model_patcher, pe_length: int = 32, seed: int = 0):
    """FancyVideoWeights in the official layout for any SD1.5-shaped MODEL (random motion modules and conv_in, no
    fps/motion embeddings: apply with fps=None, motion_score=None). The PE tables are the sinusoidal ones, pe_length
    rows long (a table longer than the released 32 rows exists only for full-attention baselines)."""
    from FrameLoom.modules.fancyvideo.loading import fancyvideo_weights_from_state_dict
    from FrameLoom.modules.fancyvideo.motion_module import motion_module_shapes, sinusoidal_positions
    from FrameLoom.nodes.fancyvideo.unet_patch import slot_sites

    from .tiny_models import random_state

    diffusion_model = model_patcher.get_model_object("diffusion_model")
    layout = {}
    for site in slot_sites(diffusion_model):
        for key, shape in motion_module_shapes(site.channels, pe_length).items():
            layout[f"{site.motion_name}.{key}"] = shape
    conv_in = diffusion_model.input_blocks[0][0].weight
    layout["conv_in.weight"] = (conv_in.shape[0], 9, *conv_in.shape[2:])
    state = random_state({k: v for k, v in layout.items() if not k.endswith(".pe")}, seed)
    state.update({k: sinusoidal_positions(v[1], v[2]) for k, v in layout.items() if k.endswith(".pe")})
    return fancyvideo_weights_from_state_dict(state)


def tiny_clip(seed: int = 0):
    """A real comfy.sd.CLIP (SD1 tokenizer, CLIP text transformer) at width 32 with seeded random weights."""
    import comfy.sd
    import comfy.sd1_clip
    import comfy.supported_models_base

    clip_model = functools.partial(comfy.sd1_clip.SDClipModel, textmodel_json_config=TINY_CLIP)
    target = comfy.supported_models_base.ClipTarget(
        comfy.sd1_clip.SD1Tokenizer, functools.partial(comfy.sd1_clip.SD1ClipModel, clip_model=clip_model)
    )
    clip = comfy.sd.CLIP(target=target)
    _fill(clip.cond_stage_model, seed, 0.05)
    return clip


def text_conditioning(clip, text: str) -> list:
    """CONDITIONING as CLIP Text Encode makes it."""
    cond, pooled = clip.encode_from_tokens(clip.tokenize(text), return_pooled=True)
    return [[cond, {"pooled_output": pooled}]]
