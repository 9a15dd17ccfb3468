"""FreeNoise window fusion inside FancyVideo's motion modules, installed through the attend hook of a patched MODEL.

* In a real evaluation of the patched tiny UNet, every motion block is fused over the windows in both spans: the whole
  attention stack ("stack") or each attention on its own ("attention"), checked against window sums written out
  here, not against the fusion code's own loops.
* The same hook ("stack" span) on FancyVideo's TemporalTransformerBlock reproduces diffusers' FreeNoiseTransformerBlock
  (vectors/freenoise_block_pyramid_24f.safetensors) at 1e-5: same PE restart, fused span and FF after fusion.
* Up to one window, the patched MODEL equals the plain FancyVideo MODEL; errors for bad settings.
"""
from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from tests.support import freenoise_models as tiny

pytestmark = pytest.mark.comfy
TOL = 1e-5


@pytest.fixture(scope="module")
def fancy(frameloom, comfy_runtime, vectors_dir):
    return tiny.fancyvideo_model(comfy_runtime, vectors_dir)


@pytest.fixture(scope="module")
def conds(frameloom, comfy_runtime):
    clip = tiny.tiny_clip()
    return tiny.text_conditioning(clip, "a camel walking"), tiny.text_conditioning(clip, "")


def freenoise(model, **settings):
    from FrameLoom.nodes.freenoise import FreeNoiseSettings, apply_freenoise

    return apply_freenoise(model, FreeNoiseSettings(**settings))


def evaluate(model, conds, frames: int, seed: int = 0) -> torch.Tensor:
    """The UNet output of one CFG evaluation (cond and uncond) on a random [frames, 4, 8, 8] latent at sigma 10."""
    import comfy.patcher_extension
    import comfy.samplers

    outputs = []

    def capture(executor, *args, **kwargs):
        out = executor(*args, **kwargs)
        outputs.append(out.detach().clone())
        return out

    def one_evaluation(model_k, x, sigmas, extra_args=None, callback=None, disable=None):
        model_k(x, sigmas[0] * x.new_ones([x.shape[0]]), **extra_args)
        return x

    model = model.clone()
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "test_capture", capture)
    noise = torch.randn(frames, 4, 8, 8, generator=torch.Generator().manual_seed(seed))
    guider = comfy.samplers.CFGGuider(model)
    guider.set_conds(*conds)
    guider.set_cfg(2.0)
    latent = torch.zeros_like(noise)
    sampler = comfy.samplers.KSAMPLER(one_evaluation)
    guider.sample(noise, latent, sampler, torch.tensor([10.0, 0.0]), seed=seed, disable_pbar=True)
    return torch.cat(outputs)


def pyramid_fusion(attend, x: torch.Tensor, length: int, stride: int) -> torch.Tensor:
    """Windows (s, s + length) for s = 0, stride, ... up to F - length (no tail), weights 1..n/2, n/2..1."""
    half = length // 2
    weights = torch.tensor(list(range(1, half + 1)) + list(range(half, 0, -1)), dtype=x.dtype)
    total = torch.zeros_like(x)
    count = torch.zeros(x.shape[1], dtype=x.dtype)
    for start in range(0, x.shape[1] - length + 1, stride):
        total[:, start:start + length] += attend(x[:, start:start + length]) * weights[None, :, None]
        count[start:start + length] += weights
    return total / count[None, :, None]


def window_attention(attention, window: torch.Tensor) -> torch.Tensor:
    """One temporal attention on one window before to_out, written out (PE rows 0..w-1 added to the input)."""
    n, length, channels = window.shape
    h = window + attention.pos_encoder.pe[:, :length]
    q, k, v = (
        proj(h).view(n, length, attention.heads, -1).transpose(1, 2)
        for proj in (attention.to_q, attention.to_k, attention.to_v)
    )
    return torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, length, channels)


def attention_span_reference(block, x: torch.Tensor, length: int, stride: int) -> torch.Tensor:
    """Official FreeNoise: each attention fused on its own (attend per window, fuse, to_out once), residuals kept."""
    for attention, norm in zip(block.attention_blocks, block.norms):
        fused = pyramid_fusion(lambda w: window_attention(attention, w), norm(x), length, stride)
        x = attention.to_out[0](fused) + x
    return x


@pytest.mark.parametrize("span", ["stack", "attention"])
def test_motion_blocks_fuse_their_attention_over_windows(fancy, conds, span):
    from FrameLoom.nodes.fancyvideo import ATTEND_OPTION

    patched = freenoise(fancy, context_length=8, stride=4, fused_span=span)
    installed = patched.model_options["transformer_options"][ATTEND_OPTION]
    calls = []

    def recording(block, x):
        out = installed(block, x)
        calls.append((block, x.detach().clone(), out.detach().clone()))
        return out

    patched.model_options["transformer_options"][ATTEND_OPTION] = recording
    evaluate(patched, conds, 24)
    modules = len(patched.get_additional_models_with_key("frameloom_fancyvideo")[0].model.module_names)
    assert len(calls) in (modules, 2 * modules)  # cond and uncond in one batch or apart
    for block, x, out in calls:
        assert x.shape[1] == 24
        with torch.no_grad():
            if span == "stack":
                expected = pyramid_fusion(block.attend, x, 8, 4)
            else:
                expected = attention_span_reference(block, x, 8, 4)
            plain = block.attend(x)
        assert (out - expected).abs().max().item() <= TOL
        assert (out - plain).abs().max().item() > 1000 * TOL  # the windows really change the result


def test_one_window_or_less_is_the_plain_model(fancy, conds):
    plain = evaluate(fancy, conds, 16)
    assert torch.equal(evaluate(freenoise(fancy), conds, 16), plain)
    plain = evaluate(fancy, conds, 24)
    assert torch.equal(evaluate(freenoise(fancy, context_length=24), conds, 24), plain)
    assert (evaluate(freenoise(fancy), conds, 24) - plain).abs().max().item() > 1000 * TOL


def test_videos_longer_than_the_positional_table(fancy, conds):
    with pytest.raises(ValueError, match="position encoding covers 32"):
        evaluate(fancy, conds, 40)
    out = evaluate(freenoise(fancy), conds, 40)
    assert out.shape[0] % 40 == 0 and torch.isfinite(out).all()


@pytest.fixture(scope="module")
def reference(vectors_dir):
    path = vectors_dir / "freenoise_block_pyramid_24f.safetensors"
    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata()
    return meta, load_file(str(path))


@pytest.fixture(scope="module")
def motion_block(frameloom, reference):
    """FancyVideo's TemporalTransformerBlock carrying the diffusers block's weights (diffusers names -> official)."""
    from FrameLoom.modules.fancyvideo.motion_module import TemporalTransformerBlock

    meta, tensors = reference
    kwargs = json.loads(meta["block_kwargs"])
    weights = {k[2:]: v for k, v in tensors.items() if k.startswith("w.")}
    renames = {
        "norm1.": "norms.0.", "norm2.": "norms.1.", "norm3.": "ff_norm.",
        "attn1.": "attention_blocks.0.", "attn2.": "attention_blocks.1.",
    }
    state = {}
    for name, value in weights.items():
        if name == "pos_embed.pe":
            state["attention_blocks.0.pos_encoder.pe"] = state["attention_blocks.1.pos_encoder.pe"] = value
            continue
        prefix = next((p for p in renames if name.startswith(p)), "")
        state[renames.get(prefix, "") + name[len(prefix):]] = value
    block = TemporalTransformerBlock(kwargs["dim"], kwargs["num_attention_heads"], weights["pos_embed.pe"].shape[1])
    block.load_state_dict(state, strict=True)
    return block.eval()


@pytest.mark.parametrize("frames, tail_rule", [(24, "normalized"), (22, "diffusers")])
@pytest.mark.parametrize("weighting", ["pyramid", "flat", "delayed_reverse_sawtooth"])
def test_hooked_motion_block_matches_diffusers_freenoise(frameloom, reference, motion_block, frames, tail_rule, weighting):
    from FrameLoom.nodes.freenoise import FreeNoiseAttend, FreeNoiseSettings

    meta, tensors = reference
    settings = FreeNoiseSettings(
        context_length=int(meta["context_length"]), stride=int(meta["context_stride"]), weighting=weighting,
        tail_rule=tail_rule, fused_span="stack",
    )
    with torch.no_grad():
        out = motion_block.feed_forward(FreeNoiseAttend(settings)(motion_block, tensors[f"in_{frames}f"]))
        plain = motion_block(tensors[f"in_{frames}f"])
    assert (out - tensors[f"out_{frames}f_{weighting}"]).abs().max().item() <= TOL
    assert (plain - tensors[f"out_{frames}f_plain_full_attention"]).abs().max().item() <= TOL


def test_spans_differ_and_an_earlier_hook_is_fused_as_a_stack(frameloom, reference, motion_block):
    from FrameLoom.nodes.freenoise import FreeNoiseAttend, FreeNoiseSettings

    _, tensors = reference
    x = tensors["in_24f"]
    with torch.no_grad():
        attention = FreeNoiseAttend(FreeNoiseSettings(fused_span="attention"))(motion_block, x)
        stack = FreeNoiseAttend(FreeNoiseSettings(fused_span="stack"))(motion_block, x)
        wrapped = FreeNoiseAttend(FreeNoiseSettings(fused_span="attention"), lambda b, h: b.attend(h))(motion_block, x)
    assert (attention - stack).abs().max().item() > 1000 * TOL
    assert (wrapped - stack).abs().max().item() <= TOL


def test_settings_are_checked(frameloom, comfy_runtime, fancy):
    from FrameLoom.nodes.freenoise import FreeNoiseSettings

    with pytest.raises(ValueError, match="positional-embedding length 32"):
        freenoise(fancy, context_length=33)
    with pytest.raises(ValueError, match="stride must be"):
        FreeNoiseSettings(context_length=8, stride=9)
    with pytest.raises(ValueError, match="weighting must be one of"):
        FreeNoiseSettings(weighting="gauss")
    with pytest.raises(ValueError, match="fused_span must be one of attention, stack, got 'ff'"):
        FreeNoiseSettings(fused_span="ff")
    with pytest.raises(ValueError, match="noise_mode must be one of"):
        FreeNoiseSettings(noise_mode="repeat_context")
    with pytest.raises(ValueError, match="apply FancyVideo"):
        freenoise(tiny.sd15_model(comfy_runtime))


def test_patching_clones_and_reapplying_replaces(fancy):
    import comfy.patcher_extension

    from FrameLoom.nodes.fancyvideo import ATTEND_OPTION
    from FrameLoom.nodes.freenoise import PATCH_KEY

    once = freenoise(fancy, context_length=8)
    twice = freenoise(once, context_length=12, weighting="flat")
    assert ATTEND_OPTION not in fancy.model_options.get("transformer_options", {})
    assert not fancy.get_wrappers(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, PATCH_KEY)
    attend = twice.model_options["transformer_options"][ATTEND_OPTION]
    assert attend.inner is None and attend.settings.context_length == 12
    assert len(twice.get_wrappers(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, PATCH_KEY)) == 1
    assert twice.get_attachment(PATCH_KEY).weighting == "flat"
    assert once.model_options["transformer_options"][ATTEND_OPTION].settings.context_length == 8
