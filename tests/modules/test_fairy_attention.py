"""Fairy anchor attention against fairy_anchor_attention.safetensors (tolerance 1e-6)."""
import math

import pytest
import torch
from safetensors.torch import load_file

from modules.fairy import anchor_pass_attention, flatten_anchors, frame_attention

TOL = 1e-6


@pytest.fixture(scope="module")
def vec(vectors_dir):
    return load_file(str(vectors_dir / "fairy_anchor_attention.safetensors"))


def explicit_attention(q, k, v):
    """The formula written out, as an independent check of the token layout."""
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    return weights @ v


def test_frame_pass_matches_reference(vec):
    out = frame_attention(vec["in.q"], vec["in.k"], vec["in.v"], vec["in.k_anchor"], vec["in.v_anchor"])
    assert out.shape == vec["out.frame"].shape
    assert (out - vec["out.frame"]).abs().max() <= TOL


def test_anchor_pass_matches_reference(vec):
    out = anchor_pass_attention(vec["in.q_anchor"], vec["in.k_anchor"], vec["in.v_anchor"])
    assert out.shape == vec["out.anchor_pass"].shape
    assert (out - vec["out.anchor_pass"]).abs().max() <= TOL


def test_explicit_formula_agrees(vec):
    # Keys/values are [own tokens, anchor 0 tokens, anchor 1 tokens, ...] along the token axis.
    k_all = torch.cat([vec["in.k"], flatten_anchors(vec["in.k_anchor"])], dim=2)
    v_all = torch.cat([vec["in.v"], flatten_anchors(vec["in.v_anchor"])], dim=2)
    assert (explicit_attention(vec["in.q"], k_all, v_all) - vec["out.frame"]).abs().max() <= TOL
    k_anc, v_anc = flatten_anchors(vec["in.k_anchor"]), flatten_anchors(vec["in.v_anchor"])
    anchors = explicit_attention(vec["in.q_anchor"], k_anc, v_anc)
    assert (anchors - vec["out.anchor_pass"]).abs().max() <= TOL


def test_flatten_anchors_order():
    x = torch.arange(3 * 2 * 4 * 1, dtype=torch.float32).reshape(3, 2, 4, 1)
    flat = flatten_anchors(x)
    assert flat.shape == (1, 2, 12, 1)
    assert torch.equal(flat[0, 1, 4:8, 0], x[1, 1, :, 0])


def test_frame_batch_rows_are_independent(vec):
    q = torch.cat([vec["in.q"], vec["in.k"]])
    k = torch.cat([vec["in.k"], vec["in.v"]])
    v = torch.cat([vec["in.v"], vec["in.q"]])
    out = frame_attention(q, k, v, vec["in.k_anchor"], vec["in.v_anchor"])
    assert (out[:1] - vec["out.frame"]).abs().max() <= TOL


def test_anchor_tokens_may_differ_from_frame_tokens():
    q, k, v = torch.randn(3, 2, 2, 5, 4).unbind(0)
    out = frame_attention(q, k, v, torch.randn(3, 2, 7, 4), torch.randn(3, 2, 7, 4))
    assert out.shape == (2, 2, 5, 4)


def test_layout_errors(vec):
    with pytest.raises(ValueError, match="heads"):
        frame_attention(vec["in.q"], vec["in.k"], vec["in.v"], vec["in.k_anchor"][:, :1], vec["in.v_anchor"][:, :1])
    with pytest.raises(ValueError, match=r"\(batch, heads, tokens, dim_head\)"):
        frame_attention(vec["in.q"][0], vec["in.k"], vec["in.v"], vec["in.k_anchor"], vec["in.v_anchor"])
    with pytest.raises(ValueError, match="same anchors"):
        anchor_pass_attention(vec["in.q_anchor"][:2], vec["in.k_anchor"], vec["in.v_anchor"])
