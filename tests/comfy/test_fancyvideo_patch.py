"""FancyVideo's ComfyUI glue beyond the UNet forward: model_sampling, ResAdapter weight patches, clone safety, errors."""
from __future__ import annotations

import copy
import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

TINY = {
    "block_out_channels": [32, 32], "layers_per_block": 1, "cross_attention_dim": 32,
    "down_block_types": ["CrossAttnDownBlock3D", "DownBlock3D"], "up_block_types": ["UpBlock3D", "CrossAttnUpBlock3D"],
}


@pytest.fixture(scope="module")
def fv(frameloom):
    import importlib

    return importlib.import_module("FrameLoom.nodes.fancyvideo")


@pytest.fixture(scope="module")
def weights(frameloom, vectors_dir):
    from FrameLoom.modules.fancyvideo.loading import fancyvideo_weights_from_state_dict

    path = vectors_dir / "fancyvideo_tiny_unet.safetensors"
    with safe_open(str(path), "pt") as handle:
        assert {k: v for k, v in json.loads(handle.metadata()["unet_config"]).items() if k in TINY} == TINY
    return fancyvideo_weights_from_state_dict({k[2:]: v.float() for k, v in load_file(str(path)).items() if k.startswith("w.")})


@pytest.fixture(scope="module")
def tiny_model(fv, comfy_runtime):
    """A random-weight SD15-shaped ModelPatcher at the tiny vector's widths."""
    import comfy.model_patcher
    import comfy.supported_models

    model = comfy.supported_models.SD15(fv.comfy_unet_config(TINY)).get_model({})
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.diffusion_model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.1)
    device = comfy_runtime.get_torch_device()
    return comfy.model_patcher.ModelPatcher(model, load_device=device, offload_device=comfy_runtime.unet_offload_device())


@pytest.mark.comfy
@pytest.mark.parametrize("mode, key", [("v_zsnr", "zsnr_alphas_cumprod"), ("eps", "linear_alphas_cumprod")])
def test_model_sampling_matches_reference_schedule(fv, vectors_dir, mode, key):
    import comfy.model_sampling

    vec = load_file(str(vectors_dir / "fancyvideo_scheduler.safetensors"))
    sampling = fv.fancyvideo_model_sampling(mode)
    alphas_cumprod = 1.0 / (1.0 + sampling.sigmas.double() ** 2)
    # ComfyUI keeps the last zero-SNR alpha-bar at 4.9e-8 (finite sigma_max) where the reference has 0.
    assert (alphas_cumprod - vec[key].double()).abs().max() <= 1e-6
    expected = comfy.model_sampling.V_PREDICTION if mode == "v_zsnr" else comfy.model_sampling.EPS
    assert isinstance(sampling, expected) and isinstance(sampling, comfy.model_sampling.ModelSamplingDiscrete)
    assert isinstance(sampling, comfy.model_sampling.V_PREDICTION) == (mode == "v_zsnr")
    timesteps = vec["timesteps_50"].float()
    assert torch.equal(sampling.timestep(sampling.sigma(timesteps)).float(), timesteps)


@pytest.mark.comfy
def test_unknown_sampling_mode_is_rejected(fv):
    with pytest.raises(ValueError, match="v_zsnr"):
        fv.fancyvideo_model_sampling("v_prediction")


@pytest.mark.comfy
def test_patch_objects_are_shared_by_clones(fv, tiny_model, weights):
    patched = fv.apply_fancyvideo(tiny_model, weights)
    patches = patched.model_options["transformer_options"]["patches"]
    clone = patched.clone()  # deep-copies model_options; the motion weights must not be copied with it
    cloned = clone.model_options["transformer_options"]["patches"]
    assert cloned["forward_timestep_embed_patch"][0][1] is patches["forward_timestep_embed_patch"][0][1]
    assert cloned["emb_patch"][0] is patches["emb_patch"][0]
    assert len(clone.get_additional_models_with_key(fv.PATCH_KEY)) == 1
    assert clone.get_attachment(fv.PATCH_KEY).fps == 25.0


@pytest.mark.comfy
def test_first_frame_patch_needs_no_motion_model(fv, tiny_model, weights):
    patched = fv.apply_fancyvideo(tiny_model, weights, fps=None, motion_score=None, compute_motion=False, sampling="eps")
    assert patched.get_additional_models_with_key(fv.PATCH_KEY) == []
    assert "patches" not in patched.model_options["transformer_options"]
    assert set(patched.object_patches) == {"diffusion_model.input_blocks.0.0", "model_sampling"}


@pytest.mark.comfy
def test_conv_in_takes_base_channels_and_bias(fv, tiny_model, weights):
    patched = fv.apply_fancyvideo(tiny_model, weights)
    conv = patched.object_patches["diffusion_model.input_blocks.0.0"]
    base = tiny_model.model.diffusion_model.input_blocks[0][0]
    assert torch.equal(conv.weight[:, :4], base.weight) and torch.equal(conv.bias, base.bias)
    assert torch.equal(conv.weight[:, 4:], weights.conv_in_weight[:, 4:])
    x = torch.randn(2, 4, 8, 8)
    padded = torch.cat([x, torch.zeros(2, 5, 8, 8)], dim=1)
    assert torch.equal(conv(x), conv(padded))  # no image conditioning = zero image latent and mask
    with pytest.raises(ValueError, match="channels"):
        conv(torch.randn(1, 6, 8, 8))


@pytest.mark.comfy
def test_misuse_is_reported(fv, tiny_model, weights):
    patched = fv.apply_fancyvideo(tiny_model, weights)
    with pytest.raises(ValueError, match="already applied"):
        fv.apply_fancyvideo(patched, weights)
    with pytest.raises(ValueError, match="no fps_embedding"):
        no_fps = copy.copy(weights)
        no_fps.embeddings = {k: v for k, v in weights.embeddings.items() if not k.startswith("fps_")}
        fv.apply_fancyvideo(tiny_model, no_fps)
    with pytest.raises(ValueError, match="do not fit this UNet"):
        fewer = copy.copy(weights)
        fewer.motion = {k: v for k, v in weights.motion.items() if not k.startswith("mid_block.")}
        fv.apply_fancyvideo(tiny_model, fewer)


@pytest.mark.comfy
def test_frames_come_from_the_cond_batch(frameloom):
    from FrameLoom.nodes.fancyvideo.unet_patch import frames_per_video

    assert frames_per_video(32, {"cond_or_uncond": [1, 0]}) == 16
    assert frames_per_video(16, {"cond_or_uncond": [0]}) == 16
    assert frames_per_video(16, {}) == 16
    assert frames_per_video(32, {"cond_or_uncond": [0]}, num_frames=8) == 8
    with pytest.raises(ValueError, match="does not divide"):
        frames_per_video(30, {}, num_frames=16)


def _lora(conv: str, rank: int, out_ch: int, in_ch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    stem = "lora_unet_" + conv.replace(".", "_")
    return {
        f"{stem}.lora_down.weight": torch.randn(rank, in_ch, 3, 3, generator=generator),
        f"{stem}.lora_up.weight": torch.randn(out_ch, rank, 1, 1, generator=generator),
        f"{stem}.alpha": torch.tensor(float(rank)),  # present in kohya files, ignored as in the official loader
    }


@pytest.mark.comfy
def test_resadapter_patches_fold_and_unpatch(fv, tiny_model):
    generator = torch.Generator().manual_seed(1)
    lora = {**_lora("down_blocks.0.downsamplers.0.conv", 16, 32, 32, generator),
            **_lora("up_blocks.0.upsamplers.0.conv", 16, 32, 32, generator)}
    norms = {
        "down_blocks.0.resnets.0.norm1.weight": torch.full((32,), 2.0),
        "down_blocks.0.resnets.0.norm1.bias": torch.zeros(5),  # wrong shape: skipped
        "not_a_unet_key.weight": torch.ones(3),
    }
    patched, report = fv.apply_resadapter(tiny_model, lora, norms)
    assert (len(report.applied), len(report.mismatched), len(report.unknown)) == (1, 1, 1)

    unet = tiny_model.model.diffusion_model
    down, up = unet.input_blocks[2][0].op, unet.output_blocks[1][1].conv
    before = down.weight.clone(), up.weight.clone(), unet.input_blocks[1][0].in_layers[0].weight.clone()
    x = torch.randn(1, 32, 8, 8, generator=generator)
    a = lora["lora_unet_down_blocks_0_downsamplers_0_conv.lora_down.weight"]
    b = lora["lora_unet_down_blocks_0_downsamplers_0_conv.lora_up.weight"]
    # peft's LoRA conv: base(x) + lora_B(lora_A(x)) * alpha / r with alpha 1, r 16
    expected = down(x) + torch.nn.functional.conv2d(torch.nn.functional.conv2d(x, a, stride=2, padding=1), b) / 16
    patched.patch_model()
    try:
        assert (down(x) - expected).abs().max() <= 1e-4
        assert not torch.equal(up.weight, before[1])
        assert torch.equal(unet.input_blocks[1][0].in_layers[0].weight, torch.full((32,), 2.0))
    finally:
        patched.unpatch_model()
    assert torch.equal(down.weight, before[0]) and torch.equal(up.weight, before[1])
    assert torch.equal(unet.input_blocks[1][0].in_layers[0].weight, before[2])


@pytest.mark.comfy
def test_resadapter_for_missing_convs_is_refused(fv, tiny_model):
    lora = _lora("down_blocks.2.downsamplers.0.conv", 16, 32, 32, torch.Generator().manual_seed(2))
    with pytest.raises(ValueError, match="do not exist"):
        fv.apply_resadapter(tiny_model, lora)
