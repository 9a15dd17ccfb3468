"""Tiny StreamingT2V models for the shipped extend workflow, written at test time under the released file names.

* `streaming_t2v.ckpt` (PAIR/StreamingT2V): a Lightning container ({'state_dict': ...}) in the official key layout
  at widths 64, one layer per block; cross-attention 1024 wide, so the real encoders' embeddings fit it.
* `open_clip_pytorch_model.bin`: OpenCLIP ViT-H-14 in open_clip's own key names (text and visual towers), the file
  ModelScope T2V ships as its text encoder. Its text tower is ms-1.7b's text encoder (ComfyUI's CLIPLoader reads it
  as SD2's CLIP-H) and its visual tower is StreamingT2V's image encoder (CLIPVisionLoader reads it as ViT-H).
  ComfyUI builds both towers at their fixed full size (24 x 1024 and 32 x 1280 layers), so a small file cannot hold
  a small model. Instead every tensor is a strided view of a tiny storage, which torch.save keeps as is: zeros
  broadcast from one element (a pre-LayerNorm residual block whose linear layers are all zero is an exact identity),
  and "Hankel" random matrices (w[i, j] = s[i + j]) drawn from one short random vector. Every text layer is an identity
  (the prompt reaches the output through the token embedding); visual layer 0 keeps random attention, so the class
  token (the pooled embedding) sees the image. The file is under 1 MB; ComfyUI still allocates and runs the full
  towers (about 2 GB in fp16 and a few seconds per image on a CPU).
* VidXTend (benjamin-paine/vidxtend), the diffusers repack of the same denoiser: `vidxtend.fp16.safetensors` (prefixes
  unet. = base_model., controlnet. = unet., resampler.) or a folder with one diffusers part per subfolder
  (`<part>/diffusion_pytorch_model[.fp16].safetensors`), written from the official-layout state by the inverse rename.
* `VQGAN_autoencoder.pth` (ModelScope T2V's VAE): a TAESD in ComfyUI's taesd_* names instead of the 84 M-parameter
  KL-f8 (same 8x / 4-channel latent space, scale 0.18215), as tests/support/tiny_sd.py does inside its checkpoints.

Usable as a script too: python -m tests.support.tiny_st2v BASE_DIR (writes what write_st2v_models writes).
"""
from __future__ import annotations

import argparse
import pathlib
import zlib

import torch

from .media import moving_square_frames, write_video
from .tiny_models import random_state
from .tiny_sd import SD15_VAE_SCALE, taesd_layout

ST2V_FILE = "streaming_t2v.ckpt"  # PAIR/StreamingT2V
OPEN_CLIP_FILE = "open_clip_pytorch_model.bin"  # damo-vilab/modelscope-damo-text-to-video-synthesis
VAE_FILE = "VQGAN_autoencoder.pth"  # same repository
SOURCE_VIDEO = "frameloom_clip_16f.mp4"  # the 16-frame clip the extend workflow continues

CONTEXT_DIM = 1024  # OpenCLIP ViT-H-14: text width and pooled image embedding width
TEXT_LAYERS, TEXT_MLP, VOCAB, TEXT_TOKENS = 24, 4096, 49408, 77
VISION_WIDTH, VISION_LAYERS, VISION_MLP, PATCH, IMAGE = 1280, 32, 5120, 14, 224

Layout = dict[str, tuple[int, ...]]


def st2v_config():
    """The tiny StreamingT2V: widths 64 (the released GroupNorm 32 and merger heads of 64 stay valid), 1 layer per
    block, 2 attention heads of 32, E_cond widths 8, resampler inner width 16."""
    from modules.streamingt2v import StreamingT2VConfig, UNet3DConfig

    unet = UNet3DConfig(
        block_out_channels=(64, 64, 64, 64), layers_per_block=1, cross_attention_dim=CONTEXT_DIM, attention_head_dim=32
    )
    return StreamingT2VConfig(unet=unet, cond_channels=(8, 8, 8, 8), resampler_inner_dim=16)


def st2v_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights for st2v_config() in streaming_t2v.ckpt's names (base_model.*, unet.*, resampler.*)."""
    from modules.streamingt2v import StreamingT2V

    with torch.device("meta"):
        layout = {k: tuple(v.shape) for k, v in StreamingT2V(st2v_config()).state_dict().items()}
    # random_state cannot draw 0-d tensors (the APM alphas, 0 upstream at init): non-zero values switch APM on
    scalars = {k: torch.tensor(0.5 + i / 16) for i, k in enumerate(k for k, s in layout.items() if not s)}
    return {**random_state({k: s for k, s in layout.items() if s}, seed), **scalars}


# --- strided stand-ins for the full-size OpenCLIP towers -------------------------------------------------------------
def _zeros(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.zeros(()).expand(shape)


def _ones(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.ones(()).expand(shape)


def _hankel(key: str, shape: tuple[int, ...], std: float, seed: int) -> torch.Tensor:
    """Random-looking weights from sum(shape) numbers: element [i, j, ...] = s[i + j + ...] (all strides 1)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(key.encode("utf-8")))
    storage = torch.randn(sum(shape) - len(shape) + 1, generator=gen) * std
    return storage.as_strided(shape, (1,) * len(shape))


def _resblock(prefix: str, width: int, mlp: int) -> Layout:
    shapes = {"attn.in_proj_weight": (3 * width, width), "attn.in_proj_bias": (3 * width,),
              "attn.out_proj.weight": (width, width), "attn.out_proj.bias": (width,),
              "mlp.c_fc.weight": (mlp, width), "mlp.c_fc.bias": (mlp,),
              "mlp.c_proj.weight": (width, mlp), "mlp.c_proj.bias": (width,)}  # fmt: skip
    return {f"{prefix}.{k}": v for k, v in shapes.items()}


def _identity_block(prefix: str, width: int, mlp: int) -> dict[str, torch.Tensor]:
    """A pre-LayerNorm residual block whose attention and MLP add exactly zero."""
    state = {k: _zeros(s) for k, s in _resblock(prefix, width, mlp).items()}
    for norm in ("ln_1", "ln_2"):
        state.update({f"{prefix}.{norm}.weight": _ones((width,)), f"{prefix}.{norm}.bias": _zeros((width,))})
    return state


def _norm(prefix: str, width: int) -> dict[str, torch.Tensor]:
    return {f"{prefix}.weight": _ones((width,)), f"{prefix}.bias": _zeros((width,))}


def open_clip_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """OpenCLIP ViT-H-14 (open_clip names: text tower bare, image tower under visual.) as strided stand-ins."""
    w, v = CONTEXT_DIM, VISION_WIDTH
    state = {"token_embedding.weight": _hankel("token", (VOCAB, w), 0.5, seed),
             "positional_embedding": _hankel("text_pos", (TEXT_TOKENS, w), 0.1, seed),
             "text_projection": _hankel("text_proj", (w, w), w**-0.5, seed), "logit_scale": torch.tensor(4.6052),
             **_norm("ln_final", w),
             "visual.class_embedding": _hankel("cls", (v,), 0.5, seed),
             "visual.positional_embedding": _hankel("vis_pos", ((IMAGE // PATCH) ** 2 + 1, v), 0.1, seed),
             "visual.conv1.weight": _hankel("patch", (v, 3, PATCH, PATCH), (3 * PATCH * PATCH) ** -0.5, seed),
             "visual.proj": _hankel("vis_proj", (v, w), v**-0.5, seed),
             **_norm("visual.ln_pre", v), **_norm("visual.ln_post", v)}  # fmt: skip
    for i in range(TEXT_LAYERS):
        state.update(_identity_block(f"transformer.resblocks.{i}", w, TEXT_MLP))
    for i in range(VISION_LAYERS):
        state.update(_identity_block(f"visual.transformer.resblocks.{i}", v, VISION_MLP))
    block = "visual.transformer.resblocks.0.attn"  # random attention: the class token mixes in the patches
    state[f"{block}.in_proj_weight"] = _hankel("vis_qkv", (3 * v, v), v**-0.5, seed)
    state[f"{block}.out_proj.weight"] = _hankel("vis_out", (v, v), v**-0.5, seed)
    return state


def vae_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A TAESD with the SD scale, in the names ComfyUI's VAE Loader detects in a bare VAE file."""
    state = {k: t.half() for k, t in random_state(taesd_layout(), seed).items()}
    return {**state, "vae_scale": torch.tensor(SD15_VAE_SCALE), "vae_shift": torch.tensor(0.0)}


# --- writers ---------------------------------------------------------------------------------------------------------
def _save(obj: dict, path: pathlib.Path) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, str(path))
    return path


def write_st2v_checkpoint(path: pathlib.Path, seed: int = 0) -> pathlib.Path:
    """streaming_t2v.ckpt as Lightning saves it (the loader reads only `state_dict`)."""
    return _save({"state_dict": st2v_state_dict(seed), "epoch": 0, "global_step": 0,
                  "pytorch-lightning_version": "2.0.9"}, path)  # fmt: skip


def write_vidxtend_file(path: pathlib.Path, state: dict[str, torch.Tensor], fp16: bool = True) -> pathlib.Path:
    """VidXTend's single file (vidxtend[.fp16].safetensors) holding `state` (official names), plus bundled stand-ins
    for its vae./text_encoder. parts, which the loader must skip."""
    from safetensors.torch import save_file

    from modules.streamingt2v.vidxtend import official_to_vidxtend

    dtype = torch.float16 if fp16 else torch.float32
    repack = {k: v.to(dtype).contiguous() for k, v in official_to_vidxtend(state).items()}
    repack.update({"vae.encoder.conv_in.weight": torch.zeros(8, 3, 3, 3, dtype=dtype),
                   "text_encoder.text_model.final_layer_norm.weight": torch.ones(8, dtype=dtype)})  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(repack, str(path))
    return path


def write_vidxtend_folder(folder: pathlib.Path, state: dict[str, torch.Tensor], fp16: bool = True) -> pathlib.Path:
    """VidXTend's diffusers folder: unet/, controlnet/, resampler/ part files with bare names, and vae/ and
    text_encoder/ stand-ins (never read by the loader)."""
    from safetensors.torch import save_file

    from modules.streamingt2v.vidxtend import official_to_vidxtend

    dtype = torch.float16 if fp16 else torch.float32
    name = "diffusion_pytorch_model.fp16.safetensors" if fp16 else "diffusion_pytorch_model.safetensors"
    parts: dict[str, dict[str, torch.Tensor]] = {"vae": {"encoder.conv_in.weight": torch.zeros(8, 3, 3, 3)},
                                                 "text_encoder": {"text_model.final_layer_norm.weight": torch.ones(8)}}  # fmt: skip
    for key, value in official_to_vidxtend(state).items():
        part, _, inner = key.partition(".")
        parts.setdefault(part, {})[inner] = value
    for part, tensors in parts.items():
        (folder / part).mkdir(parents=True, exist_ok=True)
        save_file({k: v.to(dtype).contiguous() for k, v in tensors.items()}, str(folder / part / name))
    (folder / "unet" / "config.json").write_text('{"_class_name": "UNet3DConditionModel"}')
    return folder


def write_st2v_models(base: pathlib.Path) -> None:
    """Everything the StreamingT2V extend workflow needs under a ComfyUI base directory, in well under a second:
    the denoiser, the OpenCLIP file in text_encoders/ and clip_vision/, the VAE, and a 16-frame source clip."""
    models = base / "models"
    write_st2v_checkpoint(models / "frameloom" / "streamingt2v" / ST2V_FILE)
    open_clip = open_clip_state_dict()
    for folder in ("text_encoders", "clip_vision"):
        _save(open_clip, models / folder / OPEN_CLIP_FILE)
    _save(vae_state_dict(), models / "vae" / VAE_FILE)
    write_video(base / "input" / SOURCE_VIDEO, moving_square_frames(16, 64, 96), fps=8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", type=pathlib.Path, help="a ComfyUI base directory (models/ and input/ are written)")
    write_st2v_models(parser.parse_args().base)


if __name__ == "__main__":
    main()
