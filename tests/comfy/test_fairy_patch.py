"""The Fairy-style attn1 patch inside a real ComfyUI sampling run on a tiny random SD1.5 UNet.

Hook-level checks: ComfyUI calls the replacement for every self-attention, the anchor pass stores exactly the K/V
it attended with, and the frame pass equals modules.fairy.frame_attention on the cached tensors.
"""
from __future__ import annotations

import importlib

import pytest
import torch
from einops import rearrange

from tests.support.tiny_models import random_state

pytestmark = pytest.mark.comfy

TOL = 1e-6
# input_blocks 1 and 3, the middle block and all four output blocks of the tiny UNet below carry a transformer.
TINY_LAYERS = [("input", 1, 0), ("input", 3, 0), ("middle", 0, 0)] + [("output", i, 0) for i in range(4)]


def tiny_unet(instruct_pix2pix: bool = False, seed: int = 0):
    """A ModelPatcher around a random SD1.5-shaped UNet (32/64 channels, attention at both levels, context 32)."""
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.supported_models

    config = dict(
        image_size=32, in_channels=8 if instruct_pix2pix else 4, out_channels=4, model_channels=32,
        num_res_blocks=1, channel_mult=[1, 2], transformer_depth=[1, 1], transformer_depth_output=[1, 1, 1, 1],
        transformer_depth_middle=1, context_dim=32, use_spatial_transformer=True, use_linear_in_transformer=False,
        legacy=False, adm_in_channels=None, use_temporal_attention=False, use_temporal_resblock=False,
    )  # fmt: skip
    family = comfy.supported_models.SD15_instructpix2pix if instruct_pix2pix else comfy.supported_models.SD15
    model_config = family(config)
    model_config.set_inference_dtype(torch.float32, None)
    model = model_config.get_model({})
    layout = {k: tuple(v.shape) for k, v in model.diffusion_model.state_dict().items()}
    model.load_model_weights(random_state(layout, seed), "")
    return comfy.model_patcher.ModelPatcher(model, load_device=mm.get_torch_device(), offload_device=mm.unet_offload_device())


def text_conditioning(seed: int) -> list:
    return [[torch.randn(1, 4, 32, generator=torch.Generator().manual_seed(seed)), {}]]



@pytest.fixture(scope="module")
def patch_module(frameloom):
    return importlib.import_module("FrameLoom.nodes.fairy.patch")


@pytest.fixture(scope="module")
def fairy(frameloom):
    """modules.fairy as the pack imports it (its classes must be the ones the patch sees)."""
    return importlib.import_module("FrameLoom.modules.fairy")


@pytest.fixture(scope="module")
def unet(comfy_runtime):
    return tiny_unet()


class Spy:
    """Stands in for one installed replacement and records every call ComfyUI makes."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, []

    def __call__(self, q, k, v, extra_options):
        out = self.inner(q, k, v, extra_options)
        self.calls.append((q, k, v, list(extra_options["cond_or_uncond"]), int(extra_options["n_heads"]), out))
        return out


def spy_on(patched, layer) -> Spy:
    replacements = patched.model_options["transformer_options"]["patches_replace"]["attn1"]
    replacements[layer] = Spy(replacements[layer])
    return replacements[layer]


def sample(patched, frames: int, steps: int = 2, seed: int = 0) -> torch.Tensor:
    """Plain CFG sampling of `frames` latents (4x4) with a deterministic sampler."""
    import comfy.samplers

    guider = comfy.samplers.CFGGuider(patched)
    guider.set_conds(text_conditioning(1), text_conditioning(2))
    guider.set_cfg(3.0)
    sigmas = comfy.samplers.KSampler(patched, steps, patched.load_device, "euler", "normal", 1.0).sigmas
    noise = torch.randn(frames, 4, 4, 4, generator=torch.Generator().manual_seed(seed))
    sampler = comfy.samplers.sampler_object("euler")
    with torch.no_grad():
        return guider.sample(noise, torch.zeros_like(noise), sampler, sigmas, disable_pbar=True, seed=seed)


def heads(t: torch.Tensor, n: int) -> torch.Tensor:
    return rearrange(t, "b t (h d) -> b h t d", h=n)


def per_branch(call):
    """(branch, q, k, v, out) per CFG chunk of one recorded call, in (batch, heads, tokens, dim) layout."""
    q, k, v, branches, n, out = call
    chunks = zip(*(t.chunk(len(branches)) for t in (q, k, v, out)))
    return [(b, *(heads(t, n) for t in c)) for b, c in zip(branches, chunks)]


def test_clone_patches_every_self_attention_and_leaves_the_input_alone(patch_module, fairy, unet):
    before = dict(unet.model_options["transformer_options"])
    patched = patch_module.apply_anchor_attention(unet, fairy.AnchorCache(), "anchor")

    assert patch_module.self_attention_layers(unet.model.diffusion_model) == TINY_LAYERS
    assert sorted(patched.model_options["transformer_options"]["patches_replace"]["attn1"]) == sorted(TINY_LAYERS)
    assert unet.model_options["transformer_options"] == before
    assert not unet.get_wrappers("outer_sample", patch_module.PATCH_KEY)
    assert all(k.startswith("frameloom_") for kind in patched.wrappers.values() for k in kind)
    # Re-patching replaces the evaluation counter instead of stacking a second one.
    again = patch_module.apply_anchor_attention(patched, fairy.AnchorCache(), "frames")
    assert len(again.get_wrappers("predict_noise", patch_module.PATCH_KEY)) == 1


def test_anchor_pass_caches_what_it_attended_with_and_frames_use_it(patch_module, fairy, unet):
    cache = fairy.AnchorCache()
    layer = ("middle", 0, 0)
    anchor_model = patch_module.apply_anchor_attention(unet, cache, "anchor")
    anchor_spy = spy_on(anchor_model, layer)
    sample(anchor_model, frames=3)

    # Every layer, each of the 2 steps, both CFG branches.
    assert len(cache) == len(TINY_LAYERS) * 2 * 2
    assert len(anchor_spy.calls) == 2
    for step, call in enumerate(anchor_spy.calls):
        for branch, q, k, v, out in per_branch(call):
            k_cached, v_cached = cache.get(layer, step, branch)
            assert torch.equal(k_cached, k) and torch.equal(v_cached, v)
            assert (out - fairy.anchor_pass_attention(q, k, v)).abs().max() <= TOL

    frame_model = patch_module.apply_anchor_attention(unet, cache, "frames")
    frame_spy = spy_on(frame_model, layer)
    sample(frame_model, frames=2, seed=5)
    assert len(frame_spy.calls) == 2
    for step, call in enumerate(frame_spy.calls):
        for branch, q, k, v, out in per_branch(call):
            expected = fairy.frame_attention(q, k, v, *cache.get(layer, step, branch))
            assert (out - expected).abs().max() <= TOL
            # The anchors really take part: the frame's self-attention alone gives something else.
            assert (out - torch.nn.functional.scaled_dot_product_attention(q, k, v)).abs().max() > 1e-4


def test_frame_pass_without_anchor_pass_says_so(patch_module, fairy, unet):
    frame_model = patch_module.apply_anchor_attention(unet, fairy.AnchorCache(), "frames")
    with pytest.raises(fairy.AnchorCacheMiss, match="run the anchor pass first"):
        sample(frame_model, frames=1)


def test_rejects_unknown_mode_and_foreign_cache(patch_module, fairy, unet):
    with pytest.raises(ValueError, match="mode must be one of anchor, frames"):
        patch_module.apply_anchor_attention(unet, fairy.AnchorCache(), "keyframes")
    with pytest.raises(ValueError, match="AnchorCache"):
        patch_module.apply_anchor_attention(unet, {}, "anchor")
