"""Behaviour of the motion module, the fps/motion embeddings and the image-conditioning channels (plain torch).

Whole-UNet numeric parity with the official model is in tests/comfy/test_fancyvideo_unet_parity.py; these tests pin the
properties that parity alone would not localise: frames mix only within a video, the PE really enters the attention,
the attention hook for window fusion, and the layout of the official state dict.
"""
import math

import pytest
import torch

from modules.fancyvideo.conditioning import image_condition
from modules.fancyvideo.embeddings import sinusoidal_embedding
from modules.fancyvideo.motion_model import FancyVideoMotionModel
from modules.fancyvideo.motion_module import MotionModule, motion_module_shapes

C, F, H, W = 16, 6, 3, 4


@pytest.fixture(scope="module")
def module():
    torch.manual_seed(0)
    m = MotionModule(C, heads=4, norm_groups=4, max_len=8).eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(torch.randn(p.shape) * (0.3 if p.ndim > 1 else 0.1) + (1.0 if "norm" in name and name.endswith("weight") else 0.0))
    return m


def frames(videos: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(videos * F, C, H, W, generator=torch.Generator().manual_seed(seed))


def test_state_dict_has_the_official_layout(module):
    assert {k: tuple(v.shape) for k, v in module.state_dict().items()} == motion_module_shapes(C, 8)


@torch.no_grad()
def test_videos_in_a_batch_are_independent(module):
    x = frames()
    both = module(x, F)
    assert torch.allclose(both[:F], module(x[:F], F), atol=1e-6)
    assert torch.allclose(both[F:], module(x[F:], F), atol=1e-6)
    changed = x.clone()
    changed[2] = torch.randn(C, H, W)  # one frame of the first video (a constant shift would be normed away)
    out = module(changed, F)
    assert (out[[0, 1, 3, 4, 5]] - both[[0, 1, 3, 4, 5]]).abs().max() > 1e-3  # mixes along time...
    assert torch.equal(out[F:], both[F:])  # ...within its own video only


@torch.no_grad()
def test_positional_encoding_enters_the_attention(module):
    x = frames(1)
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    blocks = module.temporal_transformer.transformer_blocks[0].attention_blocks
    saved = [b.pos_encoder.pe.clone() for b in blocks]
    try:
        for b in blocks:
            b.pos_encoder.pe.zero_()
        # without positions the temporal attention is permutation-equivariant over frames
        assert torch.allclose(module(x[order], F), module(x, F)[order], atol=1e-5)
    finally:
        for b, pe in zip(blocks, saved):
            b.pos_encoder.pe.copy_(pe)
    assert (module(x[order], F) - module(x, F)[order]).abs().max() > 1e-3


@torch.no_grad()
def test_attend_hook(module):
    x = frames()
    plain = module(x, F)
    seen = []

    def attend(block, seq):
        seen.append(tuple(seq.shape))
        return block.attend(seq)

    assert torch.equal(module(x, F, attend), plain)
    assert seen == [(2 * H * W, F, C)]
    assert (module(x, F, lambda block, seq: seq) - plain).abs().max() > 1e-3


@torch.no_grad()
def test_zero_proj_out_is_identity():
    m = MotionModule(C, heads=4, norm_groups=4)  # zero_initialize in training leaves the UNet unchanged
    torch.nn.init.zeros_(m.temporal_transformer.proj_out.weight)
    torch.nn.init.zeros_(m.temporal_transformer.proj_out.bias)
    x = frames()
    assert torch.equal(m(x, F), x)


def test_frame_limits(module):
    with pytest.raises(ValueError, match="covers 8 latent frames, got 9"):
        module(torch.randn(9, C, H, W), 9)
    with pytest.raises(ValueError, match="cannot be split"):
        module(torch.randn(10, C, H, W), 4)


def test_sinusoid_is_cos_then_sin():
    values = torch.tensor([0.0, 25.0, 3.0])
    emb = sinusoidal_embedding(values, 8)
    for row, v in enumerate(values.tolist()):
        freqs = [math.exp(-math.log(10000.0) * k / 4) for k in range(4)]
        expected = [math.cos(v * f) for f in freqs] + [math.sin(v * f) for f in freqs]
        assert emb[row].tolist() == pytest.approx(expected, abs=1e-6)


@torch.no_grad()
def test_conditions_add_in_order_and_skip_none():
    torch.manual_seed(3)
    model = FancyVideoMotionModel({"mid_block.motion_modules.0": C}, embedding_dims=(8, 12), norm_groups=4)
    emb = torch.randn(5, 12)
    assert torch.equal(model.add_conditions(emb), emb)
    fps_only = model.add_conditions(emb, fps=25.0)
    expected = emb + torch.nn.functional.silu(model.fps_embedding.linear(sinusoidal_embedding(torch.full((5,), 25.0), 8)))
    assert torch.allclose(fps_only, expected, atol=1e-6)
    both = model.add_conditions(emb, fps=25.0, motion_score=3.0)
    assert (both - fps_only).abs().max() > 1e-3
    no_motion = FancyVideoMotionModel({"mid_block.motion_modules.0": C}, embedding_dims=(8, 12), with_motion=False, norm_groups=4)
    with pytest.raises(ValueError, match="no motion_embedding"):
        no_motion.add_conditions(emb, motion_score=3.0)


def test_motion_model_layout_checks():
    layout = {"up_blocks.1.motion_modules.1": C, "down_blocks.0.motion_modules.0": C, "mid_block.motion_modules.0": C,
              "up_blocks.1.motion_modules.0": C}
    with pytest.raises(ValueError, match="up_blocks.1 has motion modules"):
        FancyVideoMotionModel({k: v for k, v in layout.items() if k != "up_blocks.1.motion_modules.0"}, with_fps=False,
                              with_motion=False, norm_groups=4)
    model = FancyVideoMotionModel(layout, with_fps=False, with_motion=False, norm_groups=4)
    assert model.module_names == ["down_blocks.0.motion_modules.0", "mid_block.motion_modules.0",
                                  "up_blocks.1.motion_modules.0", "up_blocks.1.motion_modules.1"]
    assert model.motion_module("up_blocks.1.motion_modules.1").channels == C
    assert len(model.up_blocks[0].motion_modules) == 0
    with pytest.raises(KeyError):
        model.motion_module("up_blocks.0.motion_modules.0")


def test_image_condition_channels():
    latents = torch.randn(2, 4, 3, 5)
    cond = image_condition(latents, 32, start=16)  # backtracking: reference latents at the end
    assert cond.shape == (32, 5, 3, 5)
    assert torch.equal(cond[16:18, :4], latents) and cond[16:18, 4].eq(1).all()
    assert cond[:16].eq(0).all() and cond[18:].eq(0).all()
    with pytest.raises(ValueError, match="do not fit"):
        image_condition(latents, 16, start=15)
    with pytest.raises(ValueError, match="expected image latents"):
        image_condition(torch.randn(1, 9, 3, 5), 16)
