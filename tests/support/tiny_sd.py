"""Tiny random checkpoints for end-to-end FancyVideo / Fairy tests, written at test time (nothing is committed).

* SD1.5 single file (LDM layout: model.diffusion_model.*, cond_stage_model.transformer.*, first_stage_model.*) that
  ComfyUI's CheckpointLoaderSimple detects as SD15 (or SD15_instructpix2pix with the 8-channel variant). Detection
  matches context_dim 768 and model_channels 320, so those stay; the UNet has one level (channel_mult [1]), one res
  block and transformer depth 1 (about 26 M parameters).
* CLIP-L keeps its fixed widths (vocabulary 49408 x 768 and 12 layers: ComfyUI builds all 12 from a fixed config and
  leaves layers missing from the file uninitialised, i.e. arbitrary memory). Layer 0 is random; layers 1-11 are
  written as zeros, which makes each pre-LayerNorm residual block an exact identity, so the encoder acts as a
  one-layer CLIP and its output never depends on leftover memory.
* VAE: ComfyUI builds the SD AutoencoderKL at fixed widths (ch 128, 84 M parameters), so the checkpoint carries a TAESD
  instead (first_stage_model.taesd_encoder/decoder.*, which ComfyUI's VAE detection accepts inside a checkpoint):
  2.4 M parameters, same 8x / 4-channel latent space.
* UNet and CLIP are stored as float8_e4m3fn (ComfyUI casts on load: fp32 UNet, fp16 text encoder on the CPU).
* FancyVideo in the official DeepSpeed layout (`{'module': {'module.<UNet key>': ...}}`) with motion modules for the
  blocks that exist (down 0, mid, up 0 x 2), a 9-channel conv_in and fps/motion embeddings; and a CV-VAE at small ch.

Usable as a script too: python -m tests.support.tiny_sd {sd15,ip2p,fancyvideo,cvvae} OUT_FILE
"""
from __future__ import annotations

import argparse
import pathlib
from typing import Callable, Mapping, TypeVar

import torch
from safetensors.torch import save_file

from .tiny_models import random_state

Layout = dict[str, tuple[int, ...]]
T = TypeVar("T")

MODEL_CHANNELS = 320  # SD15 detection needs these two exactly
CONTEXT_DIM = 768
TIME_EMBED_DIM = 4 * MODEL_CHANNELS
HEADS = 8
CLIP_WIDTH, CLIP_MLP, CLIP_VOCAB, CLIP_POSITIONS, CLIP_LAYERS = 768, 3072, 49408, 77, 12
TAESD_WIDTH, TAESD_BLOCKS = 64, (1, 3, 3, 3)
SD15_VAE_SCALE = 0.18215  # what ComfyUI's VAELoader sets for an SD1 TAESD
FANCYVIDEO_MODULES = ("down_blocks.0.motion_modules.0", "mid_block.motion_modules.0", "up_blocks.0.motion_modules.0",
                      "up_blocks.0.motion_modules.1")
CVVAE_CH, CVVAE_CH_MULT = 32, (1, 1, 1, 1)

UNET_PREFIX = "model.diffusion_model."
CLIP_PREFIX = "cond_stage_model.transformer.text_model."
VAE_PREFIX = "first_stage_model."


# --- layouts (no ComfyUI import: the pytest process writing the server's models need not load it) ------------------
def _norm(name: str, c: int) -> Layout:
    return {f"{name}.weight": (c,), f"{name}.bias": (c,)}


def _conv(name: str, c_out: int, c_in: int, k: int = 3, bias: bool = True) -> Layout:
    out = {f"{name}.weight": (c_out, c_in, k, k)}
    return {**out, f"{name}.bias": (c_out,)} if bias else out


def _linear(name: str, c_out: int, c_in: int, bias: bool = True) -> Layout:
    return {f"{name}.weight": (c_out, c_in), **({f"{name}.bias": (c_out,)} if bias else {})}


def _resblock(name: str, c_in: int, c_out: int) -> Layout:
    shapes = {**_norm(f"{name}.in_layers.0", c_in), **_conv(f"{name}.in_layers.2", c_out, c_in),
              **_linear(f"{name}.emb_layers.1", c_out, TIME_EMBED_DIM), **_norm(f"{name}.out_layers.0", c_out),
              **_conv(f"{name}.out_layers.3", c_out, c_out)}
    return {**shapes, **_conv(f"{name}.skip_connection", c_out, c_in, k=1)} if c_in != c_out else shapes


def _transformer(name: str, c: int) -> Layout:
    block = f"{name}.transformer_blocks.0"
    shapes = {**_norm(f"{name}.norm", c), **_conv(f"{name}.proj_in", c, c, k=1), **_conv(f"{name}.proj_out", c, c, k=1)}
    for attn, context in (("attn1", c), ("attn2", CONTEXT_DIM)):
        shapes.update({**_linear(f"{block}.{attn}.to_q", c, c, bias=False),
                       **_linear(f"{block}.{attn}.to_k", c, context, bias=False),
                       **_linear(f"{block}.{attn}.to_v", c, context, bias=False),
                       **_linear(f"{block}.{attn}.to_out.0", c, c)})
    shapes.update({**_linear(f"{block}.ff.net.0.proj", 8 * c, c), **_linear(f"{block}.ff.net.2", c, 4 * c)})
    for i in (1, 2, 3):
        shapes.update(_norm(f"{block}.norm{i}", c))
    return shapes


def sd15_unet_layout(in_channels: int = 4) -> Layout:
    """ComfyUI's SD1.5 UNet names (no prefix) at channel_mult [1], num_res_blocks 1, transformer depth 1."""
    c = MODEL_CHANNELS
    shapes = {**_linear("time_embed.0", TIME_EMBED_DIM, c), **_linear("time_embed.2", TIME_EMBED_DIM, TIME_EMBED_DIM),
              **_conv("input_blocks.0.0", c, in_channels), **_resblock("input_blocks.1.0", c, c),
              **_transformer("input_blocks.1.1", c), **_resblock("middle_block.0", c, c),
              **_transformer("middle_block.1", c), **_resblock("middle_block.2", c, c),
              **_norm("out.0", c), **_conv("out.2", 4, c)}
    for i in range(2):  # each output block sees its skip: 320 + 320 channels
        shapes.update({**_resblock(f"output_blocks.{i}.0", 2 * c, c), **_transformer(f"output_blocks.{i}.1", c)})
    return shapes


def clip_layer_layout(index: int) -> Layout:
    layer = f"encoder.layers.{index}"
    w, m = CLIP_WIDTH, CLIP_MLP
    shapes = {**_norm(f"{layer}.layer_norm1", w), **_norm(f"{layer}.layer_norm2", w),
              **_linear(f"{layer}.mlp.fc1", m, w), **_linear(f"{layer}.mlp.fc2", w, m)}
    for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
        shapes.update(_linear(f"{layer}.self_attn.{proj}", w, w))
    return shapes


def clip_l_layout() -> Layout:
    """CLIP-L text model names under text_model. (as in LDM SD1.5 files: no text_projection)."""
    return {"embeddings.token_embedding.weight": (CLIP_VOCAB, CLIP_WIDTH),
            "embeddings.position_embedding.weight": (CLIP_POSITIONS, CLIP_WIDTH),
            **_norm("final_layer_norm", CLIP_WIDTH), **clip_layer_layout(0)}


def _taesd_block(name: str) -> Layout:
    return {k: v for i in (0, 2, 4) for k, v in _conv(f"{name}.conv.{i}", TAESD_WIDTH, TAESD_WIDTH).items()}


def taesd_layout() -> Layout:
    """ComfyUI's TAESD (comfy.taesd.taesd.TAESD) parameters, latent_channels 4."""
    w = TAESD_WIDTH
    enc, index = _conv("taesd_encoder.0", w, 3), 1
    for level, blocks in enumerate(TAESD_BLOCKS):
        if level:
            enc.update(_conv(f"taesd_encoder.{index}", w, w, bias=False))  # stride-2 conv
            index += 1
        for _ in range(blocks):
            enc.update(_taesd_block(f"taesd_encoder.{index}"))
            index += 1
    enc.update(_conv(f"taesd_encoder.{index}", 4, w))
    dec, index = _conv("taesd_decoder.1", w, 4), 3  # 0 clamp, 2 relu
    for level, blocks in enumerate(reversed(TAESD_BLOCKS)):
        for _ in range(blocks):
            dec.update(_taesd_block(f"taesd_decoder.{index}"))
            index += 1
        if level < len(TAESD_BLOCKS) - 1:
            dec.update(_conv(f"taesd_decoder.{index + 1}", w, w, bias=False))  # after the upsample
            index += 2
    dec.update(_conv(f"taesd_decoder.{index}", 3, w))
    return {**enc, **dec}


def fancyvideo_layout() -> Layout:
    """The FancyVideo keys (official names) that fit sd15_unet_layout(): motion modules, conv_in, fps/motion."""
    from modules.fancyvideo.motion_module import motion_module_shapes

    shapes = {f"{name}.{k}": v for name in FANCYVIDEO_MODULES for k, v in motion_module_shapes(MODEL_CHANNELS).items()}
    shapes.update(_conv("conv_in", MODEL_CHANNELS, 9))
    for embedding in ("fps_embedding", "motion_embedding"):
        shapes.update(_linear(f"{embedding}.linear", TIME_EMBED_DIM, MODEL_CHANNELS))
    return shapes


def cvvae_layout(ch: int = CVVAE_CH, ch_mult: tuple[int, ...] = CVVAE_CH_MULT) -> Layout:
    from modules.fancyvideo.cvvae import CVVAE, CVVAEConfig

    with torch.device("meta"):
        model = CVVAE(CVVAEConfig(ch=ch, ch_mult=list(ch_mult)))
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


# --- writers -------------------------------------------------------------------------------------------------------
def _prefixed(prefix: str, state: Mapping[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {prefix + k: v.to(dtype) for k, v in state.items()}


def sd15_state_dict(seed: int = 0, instruct_pix2pix: bool = False) -> dict[str, torch.Tensor]:
    """The whole single-file checkpoint: random UNet (fp8), CLIP-L with 11 identity layers (fp8), TAESD (fp16)."""
    unet = random_state(sd15_unet_layout(8 if instruct_pix2pix else 4), seed)
    clip = random_state(clip_l_layout(), seed + 1)
    for index in range(1, CLIP_LAYERS):
        clip.update({k: torch.zeros(s) for k, s in clip_layer_layout(index).items()})
    vae = random_state(taesd_layout(), seed + 2)
    scales = {"vae_scale": torch.tensor(SD15_VAE_SCALE), "vae_shift": torch.tensor(0.0)}
    fp8 = torch.float8_e4m3fn
    return {**_prefixed(UNET_PREFIX, unet, fp8), **_prefixed(CLIP_PREFIX, clip, fp8),
            **_prefixed(VAE_PREFIX, vae, torch.float16), **_prefixed(VAE_PREFIX, scales, torch.float32)}


def _ready(path: pathlib.Path) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_sd15_checkpoint(path: pathlib.Path, seed: int = 0, instruct_pix2pix: bool = False) -> pathlib.Path:
    """A .safetensors SD1.5 (or InstructPix2Pix with instruct_pix2pix=True) checkpoint for CheckpointLoaderSimple."""
    save_file(sd15_state_dict(seed, instruct_pix2pix), str(_ready(path)))
    return path


def write_fancyvideo_checkpoint(path: pathlib.Path, seed: int = 0) -> pathlib.Path:
    """mp_rank_00_model_states.pt as DeepSpeed saves it: the UNet under 'module' with a 'module.' prefix, beside
    bookkeeping entries. conv_in.bias and a spatial key ride along, as in the real file, and must be ignored."""
    state = {k: v.half() for k, v in random_state(fancyvideo_layout(), seed).items()}
    state["time_embedding.linear_1.weight"] = torch.zeros(TIME_EMBED_DIM, MODEL_CHANNELS, dtype=torch.float16)
    torch.save({"module": {f"module.{k}": v for k, v in state.items()}, "global_steps": 1, "ds_version": "0.14.0"},
               str(_ready(path)))
    return path


def write_cvvae_checkpoint(path: pathlib.Path, seed: int = 0) -> pathlib.Path:
    """A CV-VAE diffusion_pytorch_model.safetensors in the official key layout at ch=32, ch_mult [1,1,1,1]."""
    save_file({k: v.half() for k, v in random_state(cvvae_layout(), seed).items()}, str(_ready(path)))
    return path


SD15_FILE = "realisticVisionV60B1_v51VAE.safetensors"  # one of FancyVideo's official base models, by name
FANCYVIDEO_FILE = "vae_3d_61_frames/mp_rank_00_model_states.pt"  # as in the official fancyvideo_ckpts folder
CVVAE_FILE = "vae3d/diffusion_pytorch_model.safetensors"  # as in the official CV-VAE folder
BAD_FANCYVIDEO_FILE = "not_a_fancyvideo_model.safetensors"
SAMPLE_IMAGE = "frameloom_sample.png"


def write_fancyvideo_models(base: pathlib.Path) -> None:
    """Everything the FancyVideo workflows need under a ComfyUI base directory (models/ and input/), in about 3 s."""
    from PIL import Image

    from .media import moving_square_frames

    models = base / "models"
    write_sd15_checkpoint(models / "checkpoints" / SD15_FILE)
    write_fancyvideo_checkpoint(models / "frameloom" / "fancyvideo" / FANCYVIDEO_FILE)
    # a plain AnimateDiff-style motion module (no 9-channel conv_in): the loader must refuse it
    motion = {k: v for k, v in random_state(fancyvideo_layout(), 1).items() if k.startswith(FANCYVIDEO_MODULES[0])}
    save_file({k: v.half() for k, v in motion.items()}, str(models / "frameloom" / "fancyvideo" / BAD_FANCYVIDEO_FILE))
    write_cvvae_checkpoint(models / "frameloom" / "cvvae" / CVVAE_FILE)
    Image.fromarray(moving_square_frames(1, 96, 128)[0]).save(_ready(base / "input" / SAMPLE_IMAGE))


_SESSION: dict[str, object] = {}


def once(key: str, make: Callable[[], T]) -> T:
    """Session-wide memo for fixtures that several test modules import: pytest imports each test module on its own,
    so a session fixture imported elsewhere would otherwise run once per importing module."""
    if key not in _SESSION:
        _SESSION[key] = make()
    return _SESSION[key]


def forget(key: str) -> None:
    """Drop a memo at session teardown, while ComfyUI is still intact to release its models."""
    _SESSION.pop(key, None)


def tiny_vae():
    """A real comfy.sd.VAE (SD layout, 32 channels, random weights) for in-process tests."""
    import comfy.sd
    from comfy.ldm.models.autoencoder import AutoencoderKL

    ddconfig = {
        "double_z": True, "z_channels": 4, "resolution": 32, "in_channels": 3, "out_ch": 3, "ch": 32,
        "ch_mult": [1, 1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0,
    }  # fmt: skip
    config = {"params": {"ddconfig": ddconfig, "embed_dim": 4}}
    layout = {k: tuple(v.shape) for k, v in AutoencoderKL(**config["params"]).state_dict().items()}
    return comfy.sd.VAE(sd=random_state(layout, seed=1), config=config)


WRITERS = {
    "sd15": write_sd15_checkpoint,
    "ip2p": lambda path: write_sd15_checkpoint(path, instruct_pix2pix=True),
    "fancyvideo": write_fancyvideo_checkpoint,
    "cvvae": write_cvvae_checkpoint,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=sorted(WRITERS))
    parser.add_argument("out", type=pathlib.Path)
    args = parser.parse_args()
    WRITERS[args.kind](args.out)


if __name__ == "__main__":
    main()

