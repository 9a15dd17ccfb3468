"""ResAdapter v2 folding: the folded conv equals peft's LoRA conv (base + B(A(x)) * 1/16), with the official renaming."""
import pytest
import torch
from torch.nn import functional as F

from modules.common import CheckpointError
from modules.fancyvideo.resadapter import (
    fold_resadapter,
    resadapter_conv_name,
    resadapter_deltas,
    select_resadapter_norms,
)


def lora(stem: str, generator: torch.Generator, rank: int = 16, channels: int = 8) -> dict[str, torch.Tensor]:
    return {
        f"{stem}.lora_down.weight": torch.randn(rank, channels, 3, 3, generator=generator),
        f"{stem}.lora_up.weight": torch.randn(channels, rank, 1, 1, generator=generator),
    }


def test_official_renaming():
    assert resadapter_conv_name("lora_unet_down_blocks_2_downsamplers_0_conv.lora_down.weight") == "down_blocks.2.downsamplers.0.conv.weight"
    assert resadapter_conv_name("lora_unet_up_blocks_0_upsamplers_0_conv.lora_up.weight") == "up_blocks.0.upsamplers.0.conv.weight"
    assert resadapter_conv_name("lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight") is None


@pytest.mark.parametrize("stride", [1, 2])
def test_fold_equals_lora_conv(stride):
    g = torch.Generator().manual_seed(0)
    state = lora("lora_unet_down_blocks_1_downsamplers_0_conv", g)
    base_w, base_b = torch.randn(8, 8, 3, 3, generator=g), torch.randn(8, generator=g)
    x = torch.randn(2, 8, 10, 10, generator=g)
    a, b = state["lora_unet_down_blocks_1_downsamplers_0_conv.lora_down.weight"], state["lora_unet_down_blocks_1_downsamplers_0_conv.lora_up.weight"]
    expected = F.conv2d(x, base_w, base_b, stride=stride, padding=1) + F.conv2d(F.conv2d(x, a, stride=stride, padding=1), b) / 16
    folded = fold_resadapter({"down_blocks.1.downsamplers.0.conv.weight": base_w}, state)
    out = F.conv2d(x, folded["down_blocks.1.downsamplers.0.conv.weight"], base_b, stride=stride, padding=1)
    assert (out - expected).abs().max() <= 1e-4 * expected.abs().max()


def test_alpha_entries_do_not_change_the_scale():
    g = torch.Generator().manual_seed(1)
    state = lora("lora_unet_up_blocks_2_upsamplers_0_conv", g)
    with_alpha = {**state, "lora_unet_up_blocks_2_upsamplers_0_conv.alpha": torch.tensor(16.0)}
    assert torch.equal(resadapter_deltas(state)["up_blocks.2.upsamplers.0.conv.weight"],
                       resadapter_deltas(with_alpha)["up_blocks.2.upsamplers.0.conv.weight"])


def test_bad_files():
    g = torch.Generator().manual_seed(2)
    with pytest.raises(CheckpointError, match="found none"):
        resadapter_deltas({"lora_unet_mid_block_resnets_0_conv1.lora_up.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="rank 16"):
        resadapter_deltas(lora("lora_unet_down_blocks_0_downsamplers_0_conv", g, rank=8))
    half = lora("lora_unet_down_blocks_0_downsamplers_0_conv", g)
    del half["lora_unet_down_blocks_0_downsamplers_0_conv.lora_up.weight"]
    with pytest.raises(CheckpointError, match="only lora_down"):
        resadapter_deltas(half)
    with pytest.raises(ValueError, match="expects a conv weight"):
        fold_resadapter({}, lora("lora_unet_down_blocks_0_downsamplers_0_conv", g))


def test_norm_selection_is_non_strict():
    norms = {"a.norm1.weight": torch.ones(4), "a.norm1.bias": torch.ones(3), "b.weight": torch.ones(4)}
    selected, report = select_resadapter_norms(norms, {"a.norm1.weight": (4,), "a.norm1.bias": (4,)})
    assert list(selected) == ["a.norm1.weight"]
    assert (report.applied, report.mismatched, report.unknown) == (["a.norm1.weight"], ["a.norm1.bias"], ["b.weight"])
