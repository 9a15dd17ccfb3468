"""APM against st2v_apm_attention / st2v_apm_mixed_context / st2v_apm_resampler_small (README §5.3–5.4, 1e-5)."""
import pytest
import torch
from safetensors.torch import load_file

from modules.common import strip_prefix
from modules.streamingt2v.apm import APMCrossAttention, ImageTokenResampler

TOL = 1e-5


@pytest.fixture(scope="module")
def vec(vectors_dir):
    return load_file(str(vectors_dir / "st2v_apm_attention.safetensors"))


@pytest.fixture(scope="module")
def attn2(vec):
    module = APMCrossAttention(query_dim=64, heads=2, dim_head=32, context_dim=1024)
    module.load_state_dict(strip_prefix(vec, "attn2.", keep_unprefixed=False), strict=True)
    return module.eval()


def test_mixed_context_matches_reference(vec, attn2, vectors_dir):
    expected = load_file(str(vectors_dir / "st2v_apm_mixed_context.safetensors"))["mixed_context"]
    with torch.no_grad():
        ctx = attn2.mixed_context(vec["in.encoder_hidden_states"])
    assert ctx.shape == expected.shape == (1, 77, 1024)
    assert (ctx - expected).abs().max() <= TOL


def test_attention_follows_xformers_processor_path(vec, attn2):
    with torch.no_grad():
        out = attn2(vec["in.hidden_states"], vec["in.encoder_hidden_states"])
    assert (out - vec["out.xformers_processor_path"]).abs().max() <= TOL
    # The silently different no-xformers path of the official code is not what we compute.
    assert (out - vec["out.no_xformers_path"]).abs().max() > 1e-3


def test_alpha_zero_switches_apm_off(vec, attn2):
    ehs = vec["in.encoder_hidden_states"]
    off = APMCrossAttention(64, 2, 32, 1024)
    off.load_state_dict(attn2.state_dict())
    with torch.no_grad():
        off.alpha.zero_()
        assert torch.equal(off.mixed_context(ehs), ehs[:, :77])


def test_context_without_image_tokens_is_rejected(vec, attn2):
    with pytest.raises(ValueError, match="93 tokens"):
        attn2(vec["in.hidden_states"], vec["in.encoder_hidden_states"][:, :77])


def test_resampler_matches_reference(vectors_dir):
    vec = load_file(str(vectors_dir / "st2v_apm_resampler_small.safetensors"))
    resampler = ImageTokenResampler(embed_dim=16, inner_dim=32, num_tokens=4)
    resampler.load_state_dict(strip_prefix(vec, "resampler.", keep_unprefixed=False), strict=True)
    with torch.no_grad():
        tokens = resampler(vec["in.image_embeds"], batch_size=1)
        stacked = resampler(vec["in.image_embeds"][None])
    assert tokens.shape == vec["out.tokens"].shape == (1, 4, 16)
    assert (tokens - vec["out.tokens"]).abs().max() <= TOL
    assert torch.equal(tokens, stacked)
    with pytest.raises(ValueError, match="batch_size=3"):
        resampler(vec["in.image_embeds"], batch_size=3)
    with pytest.raises(ValueError, match=r"\[\(B F\), 16\]"):
        resampler(vec["in.image_embeds"][:, :8])
