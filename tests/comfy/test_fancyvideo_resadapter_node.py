"""ResAdapter Apply node: reads the released folder's two files (either one chosen), folds the LoRA at 1/16 and sets the
norm weights on a clone; files that are not ResAdapter are refused with the reason."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from tests.comfy.test_fancyvideo_nodes import fv_nodes  # noqa: F401 (fixture)
from tests.comfy.test_fancyvideo_nodes_tiny_models import tiny_base  # noqa: F401 (fixture)
from tests.comfy.test_fancyvideo_patch import fv, tiny_model  # noqa: F401 (fixtures)
from tests.support.tiny_models import write_resadapter

pytestmark = pytest.mark.comfy

CONVS = {"down_blocks.0.downsamplers.0.conv": (32, 32), "up_blocks.0.upsamplers.0.conv": (32, 32)}
NORMS = {"down_blocks.0.resnets.0.norm1.weight": (32,), "conv_norm_out.bias": (32,), "not_in_unet.norm.weight": (3,)}
FOLDER = "resadapter_v2_sd1.5"


@pytest.fixture()
def resadapter_dir(tmp_path, monkeypatch, fv_nodes):
    import folder_paths

    write_resadapter(tmp_path / FOLDER, CONVS, NORMS, seed=3)
    monkeypatch.setitem(folder_paths.folder_names_and_paths, "frameloom_resadapter", ([str(tmp_path)], {".safetensors"}))
    folder_paths.filename_list_cache.clear()
    yield tmp_path
    folder_paths.filename_list_cache.clear()


def apply(fv_nodes, model, name):
    return fv_nodes.FrameLoomResAdapterApply.execute(model, name).result[0]


@pytest.mark.parametrize("chosen", ["pytorch_lora_weights.safetensors", "diffusion_pytorch_model.safetensors"])
def test_either_file_applies_the_whole_adapter(fv_nodes, tiny_model, resadapter_dir, chosen):
    from safetensors.torch import load_file

    schema = fv_nodes.FrameLoomResAdapterApply.define_schema()
    assert f"{FOLDER}/{chosen}" in schema.inputs[1].options
    patched = apply(fv_nodes, tiny_model, f"{FOLDER}/{chosen}")
    lora = load_file(str(resadapter_dir / FOLDER / "pytorch_lora_weights.safetensors"))
    norms = load_file(str(resadapter_dir / FOLDER / "diffusion_pytorch_model.safetensors"))
    unet = tiny_model.model.diffusion_model
    down, norm1, norm_out = unet.input_blocks[2][0].op, unet.input_blocks[1][0].in_layers[0], unet.out[0]
    before = down.weight.clone(), norm1.weight.clone(), norm_out.bias.clone()
    a = lora["lora_unet_down_blocks_0_downsamplers_0_conv.lora_down.weight"]
    b = lora["lora_unet_down_blocks_0_downsamplers_0_conv.lora_up.weight"]
    expected = before[0] + (b.flatten(1) @ a.flatten(1)).view_as(before[0]) / 16  # peft default alpha 1, rank 16
    patched.patch_model()
    try:
        assert (down.weight - expected).abs().max() <= 1e-6
        assert torch.equal(norm1.weight, norms["down_blocks.0.resnets.0.norm1.weight"])
        assert torch.equal(norm_out.bias, norms["conv_norm_out.bias"])
    finally:
        patched.unpatch_model()
    assert torch.equal(down.weight, before[0]) and torch.equal(norm1.weight, before[1])


def test_files_that_are_not_resadapter_are_refused(fv_nodes, tiny_model, resadapter_dir):
    from FrameLoom.modules.common import CheckpointError

    lonely = resadapter_dir / "lonely"
    lonely.mkdir()
    save_file({"lora_unet_x.lora_up.weight": torch.zeros(1)}, str(lonely / "pytorch_lora_weights.safetensors"))
    with pytest.raises(CheckpointError, match="needs both of its files.*missing diffusion_pytorch_model.safetensors"):
        apply(fv_nodes, tiny_model, "lonely/pytorch_lora_weights.safetensors")

    other = resadapter_dir / "other"
    write_resadapter(other, CONVS, NORMS)
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4)}, str(other / "some_lora.safetensors"))
    with pytest.raises(CheckpointError, match="'some_lora.safetensors' is not a ResAdapter LoRA: expected ResAdapter LoRA"):
        apply(fv_nodes, tiny_model, "other/some_lora.safetensors")

    swapped = resadapter_dir / "swapped"
    write_resadapter(swapped, CONVS, NORMS)
    (swapped / "diffusion_pytorch_model.safetensors").write_bytes((swapped / "pytorch_lora_weights.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="should hold ResAdapter's normalisation weights.*found LoRA tensors"):
        apply(fv_nodes, tiny_model, "swapped/pytorch_lora_weights.safetensors")


def test_norm_weights_of_another_model_are_refused(fv_nodes, tiny_model, resadapter_dir):
    write_resadapter(resadapter_dir / "wide", CONVS, {"down_blocks.0.resnets.0.norm1.weight": (64,)})
    with pytest.raises(ValueError, match="none of the 1 ResAdapter norm weights .* fit this UNet"):
        apply(fv_nodes, tiny_model, "wide/pytorch_lora_weights.safetensors")


def test_lora_for_other_widths_is_refused(fv_nodes, tiny_model, resadapter_dir):
    write_resadapter(resadapter_dir / "sdxl_like", {"down_blocks.0.downsamplers.0.conv": (64, 64)}, NORMS)
    with pytest.raises(ValueError, match=r"shapes do not fit this UNet \(down_blocks.0.downsamplers.0.conv.weight "
                       r"\[64, 64, 3, 3\] vs \[32, 32, 3, 3\]\)"):
        apply(fv_nodes, tiny_model, "sdxl_like/pytorch_lora_weights.safetensors")
