"""tests/support/tiny_sd.py: the tiny checkpoints load through ComfyUI's own detection, completely, and fit FancyVideo.

Also the shared fixtures of the FancyVideo node tests: the files written once per session, and the checkpoint loaded
the way CheckpointLoaderSimple loads it.
"""
from __future__ import annotations

import logging
import time

import pytest
import torch

from tests.support import tiny_sd

pytestmark = pytest.mark.comfy
logger = logging.getLogger("FrameLoom.tests")

MAX_CHECKPOINT_BYTES = 160_000_000


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    """A ComfyUI-style base directory holding the FancyVideo test models (as the server fixture writes them)."""

    def write():
        base = tmp_path_factory.mktemp("fancyvideo_models")
        started = time.perf_counter()
        tiny_sd.write_fancyvideo_models(base)
        logger.info("tiny FancyVideo models written in %.1f s", time.perf_counter() - started)
        return base

    return tiny_sd.once("fancyvideo_models", write)


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_base, comfy_runtime):
    """(MODEL, CLIP, VAE) of the tiny SD1.5 checkpoint, loaded like CheckpointLoaderSimple."""
    import comfy.sd

    path = tiny_base / "models" / "checkpoints" / tiny_sd.SD15_FILE
    yield tiny_sd.once("sd15_checkpoint", lambda: comfy.sd.load_checkpoint_guess_config(str(path))[:3])
    tiny_sd.forget("sd15_checkpoint")


def test_sd15_checkpoint_is_detected_and_complete(tiny_base, tiny_checkpoint):
    import comfy.supported_models
    from comfy.taesd.taesd import TAESD

    import comfy.model_management

    model, clip, vae = tiny_checkpoint
    # a patched clone sampled earlier in the session stays applied to the shared base model while it is loaded
    # (ComfyUI's normal behaviour); unloading restores the base weights this test inspects
    comfy.model_management.unload_all_models()
    assert type(model.model.model_config) is comfy.supported_models.SD15
    unet = model.model.diffusion_model.state_dict()
    assert {k: tuple(v.shape) for k, v in unet.items()} == tiny_sd.sd15_unet_layout()
    assert isinstance(vae.first_stage_model, TAESD)
    taesd = vae.first_stage_model.state_dict()
    assert {k: tuple(v.shape) for k, v in taesd.items() if v.dim()} == tiny_sd.taesd_layout()
    assert abs(float(taesd["vae_scale"]) - tiny_sd.SD15_VAE_SCALE) < 1e-7
    # every text-encoder weight comes from the file (ComfyUI leaves missing ones uninitialised); SD1.5 files have no
    # text_projection / logit_scale, which ComfyUI does not use for SD1.5
    text = clip.cond_stage_model.clip_l.transformer.state_dict()
    expected = {"text_model." + k: s for k, s in tiny_sd.clip_l_layout().items()}
    for index in range(1, tiny_sd.CLIP_LAYERS):
        expected.update({"text_model." + k: s for k, s in tiny_sd.clip_layer_layout(index).items()})
    assert {k: tuple(v.shape) for k, v in text.items() if k != "text_projection.weight"} == expected
    size = (tiny_base / "models" / "checkpoints" / tiny_sd.SD15_FILE).stat().st_size
    logger.info("tiny SD1.5 checkpoint: %.1f MB", size / 1e6)
    assert size < MAX_CHECKPOINT_BYTES


def test_zero_clip_layers_are_exact_identities(tiny_checkpoint):
    _, clip, _ = tiny_checkpoint
    encoder = clip.cond_stage_model.clip_l.transformer.text_model.encoder
    tokens = clip.tokenize("a red fox in the snow")
    full = clip.encode_from_tokens(tokens)
    layers = encoder.layers
    try:
        encoder.layers = layers[:1]
        one_layer = clip.encode_from_tokens(tokens)
    finally:
        encoder.layers = layers
    assert torch.isfinite(full).all() and full.abs().max() > 0.1
    assert torch.equal(full, one_layer)


def test_sampling_at_64px_is_fast_and_finite(tiny_checkpoint):
    import comfy.sample

    model, clip, vae = tiny_checkpoint
    positive = clip.encode_from_tokens_scheduled(clip.tokenize("a cat"))
    negative = clip.encode_from_tokens_scheduled(clip.tokenize(""))
    latent = torch.zeros(1, 4, 8, 8)
    started = time.perf_counter()
    out = comfy.sample.sample(model, comfy.sample.prepare_noise(latent, 0), 4, 7.0, "euler", "normal", positive,
                              negative, latent, disable_pbar=True, seed=0)
    image = vae.decode(out)
    logger.info("tiny SD1.5: 4 steps at 64x64 + decode in %.2f s", time.perf_counter() - started)
    assert image.shape == (1, 64, 64, 3) and torch.isfinite(image).all()
    assert image.std() > 0  # a random VAE still draws structure, not a constant


def test_instruct_pix2pix_variant_is_detected(tmp_path, comfy_runtime):
    import comfy.sd
    import comfy.supported_models

    path = tiny_sd.write_sd15_checkpoint(tmp_path / "ip2p.safetensors", instruct_pix2pix=True)
    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(str(path))
    assert type(model.model.model_config) is comfy.supported_models.SD15_instructpix2pix
    assert model.model.diffusion_model.input_blocks[0][0].weight.shape == (320, 8, 3, 3)
    assert clip is not None and vae is not None


def test_fancyvideo_file_fits_the_unet_blocks(frameloom, tiny_base, tiny_checkpoint):
    from FrameLoom.modules.fancyvideo.loading import FORMAT_DEEPSPEED, load_fancyvideo
    from FrameLoom.nodes.fancyvideo.unet_patch import slot_sites

    weights = load_fancyvideo(tiny_base / "models" / "frameloom" / "fancyvideo" / tiny_sd.FANCYVIDEO_FILE)
    assert weights.source_format == FORMAT_DEEPSPEED and weights.has_fps and weights.has_motion_score
    sites = slot_sites(tiny_checkpoint[0].model.diffusion_model)
    assert {s.motion_name: s.channels for s in sites} == weights.module_channels
    assert list(weights.module_channels) == list(tiny_sd.FANCYVIDEO_MODULES)
    assert tuple(weights.conv_in_weight.shape) == (320, 9, 3, 3)
    assert "conv_in.bias" not in weights.motion and "time_embedding.linear_1.weight" not in weights.motion


def test_cvvae_file_has_the_official_layout_at_small_width(frameloom, tiny_base):
    from safetensors.torch import load_file

    from FrameLoom.modules.fancyvideo.cvvae import CVVAE

    state = load_file(str(tiny_base / "models" / "frameloom" / "cvvae" / tiny_sd.CVVAE_FILE))
    model = CVVAE.from_state_dict(state)
    assert (model.config.ch, model.config.ch_mult, model.config.num_res_blocks) == (32, [1, 1, 1, 1], 2)
    assert all(k.startswith(("encoder.", "decoder.")) for k in state)
