"""VidXTend repack -> streaming_t2v.ckpt names: the rename covers every official key of the full-size model 1:1, a
tiny repack (single file and diffusers folder) reads back to exactly the official-layout tensors, and incomplete or
foreign files get errors naming what is missing or unknown."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from modules.common import CheckpointError
from modules.streamingt2v.vidxtend import (
    find_vidxtend_folders,
    is_vidxtend_state,
    load_vidxtend_folder,
    official_to_vidxtend,
    part_file,
    vidxtend_to_official,
)
from tests.support.tiny_st2v import st2v_state_dict, write_vidxtend_file, write_vidxtend_folder

# Spot checks written out by hand from VidXTend's module attributes (see the docstring of modules/streamingt2v/vidxtend.py)
KNOWN = {
    "unet.cross_attention_merger_mid_block.temporal_transformer.proj_out.weight":
        "base_model.cross_attention_merger_mid_block.temporal_transformer.proj_out.weight",
    "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.conv.weight":
        "base_model.down_blocks.0.attentions.0.transformer_blocks.0.attn2.conv.weight",
    "unet.up_blocks.3.attentions.2.transformer_blocks.0.attn2.alpha":
        "base_model.up_blocks.3.attentions.2.transformer_blocks.0.attn2.alpha",
    "controlnet.controlnet_cond_embedding.conv_out.weight": "unet.controlnet_cond_embedding.conv_out.weight",
    "controlnet.transformer_in.proj_in.weight": "unet.transformer_in.proj_in.weight",
    "resampler.context_embedding.2.weight": "resampler.context_embedding.2.weight",
}  # fmt: skip


@pytest.fixture(scope="module")
def full_layout(reference_dir) -> dict[str, torch.Tensor]:
    keys = json.loads((reference_dir / "streamingt2v_ms_keys.json").read_text())["keys"]
    return {k: torch.empty(shape, device="meta") for k, shape in keys.items()}


@pytest.fixture(scope="module")
def tiny_state() -> dict[str, torch.Tensor]:
    return st2v_state_dict(seed=3)


def test_full_size_keys_map_one_to_one(full_layout):
    official = {k: v for k, v in full_layout.items() if k.startswith(("base_model.", "unet.", "resampler."))}
    assert len(official) == 2389  # README 5.1: 1703 + 682 + 4
    repack = official_to_vidxtend(official)
    assert len(repack) == len(official)
    assert {k.split(".")[0] for k in repack} == {"unet", "controlnet", "resampler"}
    assert sum(k.startswith("controlnet.") for k in repack) == 682
    back = vidxtend_to_official(repack)
    assert list(back) == list(official)
    assert all(back[k].shape == official[k].shape for k in official)
    for vidxtend_name, official_name in KNOWN.items():
        assert official_name in official and repack[vidxtend_name].shape == official[official_name].shape
        assert back[official_name].shape == official[official_name].shape
    assert is_vidxtend_state(repack) and not is_vidxtend_state(official)


def test_bundled_parts_pass_through_and_unknown_prefixes_are_listed(tiny_state):
    repack = official_to_vidxtend(tiny_state)
    bundled = {"vae.decoder.conv_out.bias": torch.zeros(3), "text_encoder.text_model.embeddings.x": torch.zeros(2)}
    out = vidxtend_to_official({**repack, **bundled})
    assert all(out[k] is v for k, v in bundled.items())
    with pytest.raises(CheckpointError, match=r"2 tensors .* no known prefix: image_encoder\.proj, scheduler\.betas"):
        vidxtend_to_official({**repack, "image_encoder.proj": torch.zeros(1), "scheduler.betas": torch.zeros(1)})


@pytest.mark.parametrize("part", ["unet.", "controlnet.", "resampler."])
def test_missing_part_is_named(tiny_state, part):
    repack = {k: v for k, v in official_to_vidxtend(tiny_state).items() if not k.startswith(part)}
    with pytest.raises(CheckpointError, match=rf"incomplete: no {part}\* tensors"):
        vidxtend_to_official(repack)


def test_single_file_reads_back_the_official_tensors(tmp_path, tiny_state):
    from modules.common import load_state_dict

    path = write_vidxtend_file(tmp_path / "vidxtend.safetensors", tiny_state, fp16=False)
    out = vidxtend_to_official(load_state_dict(path))
    assert sorted(k for k in out if not k.startswith(("vae.", "text_encoder."))) == sorted(tiny_state)
    assert all(torch.equal(out[k], v) for k, v in tiny_state.items())


def test_folder_reads_back_the_official_tensors(tmp_path, tiny_state):
    folder = write_vidxtend_folder(tmp_path / "vidxtend", tiny_state, fp16=False)
    out = load_vidxtend_folder(folder)
    assert sorted(out) == sorted(tiny_state)  # vae/ and text_encoder/ are not read
    assert all(torch.equal(out[k], v) for k, v in tiny_state.items())


def test_folder_picks_fp16_or_full_precision_files(tmp_path, tiny_state):
    folder = write_vidxtend_folder(tmp_path / "vidxtend", tiny_state, fp16=True)
    assert part_file(folder, "unet").endswith("diffusion_pytorch_model.fp16.safetensors")
    assert part_file(folder, "unet", prefer_fp16=False).endswith("fp16.safetensors")  # the only one there
    write_vidxtend_folder(folder, tiny_state, fp16=False)  # now both variants exist
    assert part_file(folder, "unet", prefer_fp16=False).endswith("/diffusion_pytorch_model.safetensors")
    assert part_file(folder, "controlnet", prefer_fp16=True).endswith("diffusion_pytorch_model.fp16.safetensors")
    half = load_vidxtend_folder(folder, prefer_fp16=True)
    assert all(half[k].dtype == torch.float16 and torch.equal(half[k], v.half()) for k, v in tiny_state.items())


def test_folder_without_a_part_file_says_what_is_expected(tmp_path, tiny_state):
    folder = write_vidxtend_folder(tmp_path / "vidxtend", tiny_state)
    (folder / "resampler" / "diffusion_pytorch_model.fp16.safetensors").unlink()
    save_file({"x": torch.zeros(1)}, str(folder / "resampler" / "model.safetensors"))
    with pytest.raises(
        CheckpointError, match=r"lacks the resampler weights .*resampler/diffusion_pytorch_model\.fp16\.safetensors.*"
        r"found \['model\.safetensors'\]"
    ):
        load_vidxtend_folder(folder)


def test_folders_are_found_below_a_root(tmp_path, tiny_state):
    write_vidxtend_folder(tmp_path / "repacks" / "vidxtend", tiny_state)
    (tmp_path / "other" / "unet").mkdir(parents=True)  # a lone unet/ is not a repack
    assert find_vidxtend_folders(tmp_path) == ["repacks/vidxtend"]
    assert find_vidxtend_folders(tmp_path / "repacks" / "vidxtend") == ["."]
