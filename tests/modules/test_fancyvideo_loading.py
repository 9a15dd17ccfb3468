"""FancyVideo checkpoint loading: both file formats, the official key filter, format detection and clear errors.

Full-size layouts come from the key dumps as meta tensors (nothing allocated); small files are written from the
tiny reference UNet's weights in the official DeepSpeed and in the AnimateDiff-Evolved layout.
"""
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from modules.common import CheckpointError
from modules.fancyvideo.keymap import split_keys
from modules.fancyvideo.loading import (
    FORMAT_ADE,
    FORMAT_DEEPSPEED,
    fancyvideo_weights_from_state_dict,
    load_fancyvideo,
)
from modules.fancyvideo.motion_module import sinusoidal_positions


def meta_state(path):
    keys = json.loads(path.read_text())["keys"]
    return {k: torch.empty(shape, device="meta") for k, shape in keys.items()}


@pytest.fixture(scope="module")
def tiny(vectors_dir):
    vec = load_file(str(vectors_dir / "fancyvideo_tiny_unet.safetensors"))
    return {k[2:]: v.float() for k, v in vec.items() if k.startswith("w.")}


def test_full_size_layout(reference_dir):
    weights = fancyvideo_weights_from_state_dict(meta_state(reference_dir / "fancyvideo_unet_keys.json"))
    channels = weights.module_channels
    assert len(channels) == 21
    assert list(channels)[:3] == ["down_blocks.0.motion_modules.0", "down_blocks.0.motion_modules.1", "down_blocks.1.motion_modules.0"]
    assert channels["mid_block.motion_modules.0"] == 1280 and channels["up_blocks.3.motion_modules.2"] == 320
    assert weights.pe_length == 32 and weights.embedding_dims == (320, 1280)
    assert weights.has_fps and weights.has_motion_score and not weights.has_ctgm
    assert weights.source_format == FORMAT_DEEPSPEED
    assert tuple(weights.conv_in_weight.shape) == (320, 9, 3, 3)


def test_ctgm_layout_is_flagged_and_ignored(reference_dir):
    state = meta_state(reference_dir / "fancyvideo_unet_ctgm_all_keys.json")
    assert len(split_keys(state)["ctgm"]) == 2544
    weights = fancyvideo_weights_from_state_dict(state)
    assert weights.has_ctgm and len(weights.module_channels) == 21
    assert not any(".ctm_" in k for k in weights.motion)


def test_deepspeed_file(tmp_path, tiny):
    path = tmp_path / "mp_rank_00_model_states.pt"
    torch.save({"module": {f"module.{k}": v for k, v in tiny.items()}, "global_steps": 7, "ds_version": "0.14.0"}, path)
    weights = load_fancyvideo(path)
    assert weights.source_format == FORMAT_DEEPSPEED
    groups = split_keys(tiny)
    assert set(weights.motion) == set(groups["motion"]) and set(weights.embeddings) == set(groups["embedding"])
    assert torch.equal(weights.conv_in_weight, tiny["conv_in.weight"])  # conv_in.bias is not taken (official filter)
    assert weights.has_fps and weights.has_motion_score


def test_animatediff_evolved_file_without_pe(tmp_path, tiny):
    groups = split_keys(tiny)
    keep = [k for k in groups["motion"] + groups["embedding"] + groups["conv_in"] if not k.endswith("pos_encoder.pe")]
    path = tmp_path / "FancyVideo_v1.safetensors"
    save_file({**{k: tiny[k].contiguous() for k in keep}, "FancyVideo": torch.tensor([1.0])}, str(path))
    weights = load_fancyvideo(path)
    assert weights.source_format == FORMAT_ADE and weights.pe_length == 32
    model = weights.build_motion_model()
    # the regenerated table equals the official class buffer stored in the reference
    pe_name = "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.pos_encoder.pe"
    assert (model.state_dict()[pe_name] - tiny[pe_name]).abs().max() <= 1e-6
    assert torch.equal(sinusoidal_positions(32, 32), model.state_dict()[pe_name])


def test_build_in_half_precision_keeps_pe_float32(tiny):
    model = fancyvideo_weights_from_state_dict(tiny).build_motion_model(dtype=torch.float16)
    state = model.state_dict()
    assert {v.dtype for k, v in state.items() if not k.endswith(".pe")} == {torch.float16}
    assert {v.dtype for k, v in state.items() if k.endswith(".pe")} == {torch.float32}


def test_plain_animatediff_is_refused(tiny):
    motion_only = {k: v for k, v in tiny.items() if "motion_modules." in k}
    with pytest.raises(CheckpointError, match="plain AnimateDiff motion module"):
        fancyvideo_weights_from_state_dict(motion_only)


def test_non_fancyvideo_file_is_refused(tmp_path, tiny):
    path = tmp_path / "sd15_unet.safetensors"
    save_file({k: v.contiguous() for k, v in tiny.items() if "motion_modules." not in k}, str(path))
    with pytest.raises(CheckpointError, match="sd15_unet.safetensors.*found no motion modules"):
        load_fancyvideo(path)


def test_broken_motion_module_is_named(tiny):
    broken = dict(tiny)
    del broken["up_blocks.1.motion_modules.1.temporal_transformer.proj_out.bias"]
    with pytest.raises(CheckpointError, match="up_blocks.1.motion_modules.1.*1 missing: temporal_transformer.proj_out.bias"):
        fancyvideo_weights_from_state_dict(broken)
    wrong = dict(tiny)
    wrong["conv_in.weight"] = torch.zeros(32, 8, 3, 3)
    with pytest.raises(CheckpointError, match=r"conv_in.weight must be \[C, 9, 3, 3\], found shape \[32, 8, 3, 3\]"):
        fancyvideo_weights_from_state_dict(wrong)


class OptimizerConfig:
    """A Python object beside the weights, as real DeepSpeed files carry (weights_only refuses to build it)."""


def test_refused_official_file_reads_from_its_one_time_conversion(tmp_path, tiny):
    from modules.common.pickle_convert import convert_checkpoint

    path = tmp_path / "video_extending" / "mp_rank_00_model_states.pt"
    path.parent.mkdir()
    torch.save({"module": {f"module.{k}": v for k, v in tiny.items()}, "optimizer_config": OptimizerConfig()}, path)
    with pytest.raises(CheckpointError, match=r"scripts/convert_checkpoint\.py"):
        load_fancyvideo(path)
    convert_checkpoint(path)
    weights = load_fancyvideo(path)  # the user keeps choosing the .pt; its .safetensors beside it is read
    assert torch.equal(weights.conv_in_weight, tiny["conv_in.weight"])
    assert all(torch.equal(v, tiny[k]) for k, v in weights.motion.items())
