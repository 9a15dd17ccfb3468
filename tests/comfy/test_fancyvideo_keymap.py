"""Every key of the FULL-SIZE FancyVideo UNet (fancyvideo_unet_keys.json, README §4.1) finds its place, on meta tensors.

SD1.5 layers -> ComfyUI's SD15 UNet (built on the meta device, nothing allocated) through ComfyUI's converter;
motion modules and fps/motion embeddings -> our motion model; conv_in -> the 9-channel conv whose first 4 channels
match the base UNet's conv_in. Nothing is left over and no target is used twice.
"""
from __future__ import annotations

import json

import pytest
import torch


@pytest.fixture(scope="module")
def dump(reference_dir):
    return json.loads((reference_dir / "fancyvideo_unet_keys.json").read_text())


@pytest.fixture(scope="module")
def meta_state(dump):
    return {k: torch.empty(shape, device="meta") for k, shape in dump["keys"].items()}


@pytest.fixture(scope="module")
def comfy_sd15(meta_state, comfy_runtime):
    """ComfyUI's own detection of the dump's SD1.5 layout (with the base model's 4-channel conv_in), built on meta."""
    import comfy.model_detection
    import comfy.supported_models

    detect = dict(meta_state)
    detect["conv_in.weight"] = torch.empty(320, 4, 3, 3, device="meta")
    unet_config = comfy.model_detection.unet_config_from_diffusers_unet(detect)
    assert unet_config is not None
    return comfy.supported_models.SD15(unet_config).get_model({}, device="meta")


@pytest.fixture(scope="module")
def fv(frameloom):
    import importlib

    return importlib.import_module("FrameLoom.nodes.fancyvideo")


@pytest.mark.comfy
def test_every_key_lands_once_with_the_right_shape(fv, dump, meta_state, comfy_sd15):
    from FrameLoom.modules.fancyvideo.keymap import split_keys
    from FrameLoom.modules.fancyvideo.loading import fancyvideo_weights_from_state_dict

    groups = split_keys(meta_state)
    assert {g: len(v) for g, v in groups.items()} == {"motion": 588, "embedding": 4, "conv_in": 2, "ctgm": 0, "spatial": 684}

    comfy_state = comfy_sd15.diffusion_model.state_dict()
    spatial = fv.spatial_keymap(groups["spatial"], comfy_sd15.model_config.unet_config)
    assert len(set(spatial.values())) == len(spatial) == 684
    for name, target in spatial.items():
        assert comfy_state[target].shape == meta_state[name].shape, name
    conv_in = {"input_blocks.0.0.weight", "input_blocks.0.0.bias"}
    assert set(comfy_state) == set(spatial.values()) | conv_in  # the UNet is fully covered
    assert comfy_state["input_blocks.0.0.weight"].shape == meta_state["conv_in.weight"][:, :4].shape
    assert comfy_state["input_blocks.0.0.bias"].shape == meta_state["conv_in.bias"].shape

    weights = fancyvideo_weights_from_state_dict(meta_state)
    model = weights.build_motion_model()  # strict load: names and shapes of all 592 tensors match our modules
    own = model.state_dict()
    assert set(own) == set(groups["motion"]) | set(groups["embedding"])
    assert all(own[k].shape == meta_state[k].shape for k in own)
    expected_params = sum(dump["_groups_count_numel"][g][1] for g in ("motion_modules", "fps_embedding", "motion_embedding"))
    pe = sum(own[k].numel() for k in dump["_buffers_not_parameters"])
    assert sum(p.numel() for p in model.parameters()) + pe == expected_params


@pytest.mark.comfy
def test_motion_modules_fit_comfy_blocks(fv, meta_state, comfy_sd15):
    from FrameLoom.modules.fancyvideo.loading import fancyvideo_weights_from_state_dict
    from FrameLoom.nodes.fancyvideo.unet_patch import slot_sites

    weights = fancyvideo_weights_from_state_dict(meta_state)
    sites = slot_sites(comfy_sd15.diffusion_model)
    assert [s.motion_name for s in sites] == list(weights.module_channels)  # same execution order
    assert {s.motion_name: s.channels for s in sites} == weights.module_channels
    assert [s.block_path for s in sites][:3] == ["input_blocks.1", "input_blocks.2", "input_blocks.4"]
    assert sites[8].block_path == "middle_block" and sites[-1].block_path == "output_blocks.11"
    # fps/motion embeddings read the 320-d sinusoid and add to the 1280-d time embedding, like ComfyUI's time_embed
    time_embed = comfy_sd15.diffusion_model.time_embed
    assert weights.embedding_dims == (time_embed[0].in_features, time_embed[-1].out_features)


@pytest.mark.comfy
def test_diffusers_config_conversion_matches_comfy_detection(fv, comfy_sd15):
    sd15 = {
        "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2, "cross_attention_dim": 768,
        "down_block_types": ["CrossAttnDownBlock3D"] * 3 + ["DownBlock3D"],
        "up_block_types": ["UpBlock3D"] + ["CrossAttnUpBlock3D"] * 3,
    }
    converted = fv.comfy_unet_config(sd15)
    detected = comfy_sd15.model_config.unet_config
    keys = ["model_channels", "num_res_blocks", "channel_mult", "transformer_depth", "transformer_depth_output",
            "transformer_depth_middle", "context_dim", "use_linear_in_transformer", "in_channels", "out_channels"]
    assert {k: converted[k] for k in keys} == {k: detected[k] for k in keys}
