"""Batched window fusion: the "attention" span (official FreeNoise) and the batched "stack" span.

* attend_fused_attentions equals a straightforward per-window loop of its definition (per window: project x + pe with
  the PE restarting at 0, attend; fuse with the window weights; to_out once) for F = 24, 22, 64, every weighting and
  both tail rules, and equals plain attention up to one window;
* fuse_windows_batched equals the per-window fuse_windows loop and reproduces the diffusers vector
  (vectors/freenoise_block_pyramid_24f.safetensors) at 1e-5.
"""
from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from modules.common import strip_prefix
from modules.fancyvideo.motion_module import TemporalSelfAttention, TemporalTransformerBlock
from modules.freenoise import FreeNoiseReferenceBlock, fuse_windows
from modules.freenoise.fusion import fuse_windows_batched, window_plan
from modules.freenoise.windowed_attention import attend_fused_attentions

TOL = 1e-5
WEIGHTINGS = ["pyramid", "flat", "delayed_reverse_sawtooth"]
TAIL_RULES = ["normalized", "diffusers"]
DIM, HEADS, PE_LEN = 32, 4, 32


@pytest.fixture(scope="module")
def block() -> TemporalTransformerBlock:
    torch.manual_seed(0)
    block = TemporalTransformerBlock(DIM, HEADS, PE_LEN).eval()
    with torch.no_grad():
        for param in block.parameters():
            param.normal_(0.0, 0.3)  # large enough that attention is far from uniform
    return block


def _inputs(frames: int) -> torch.Tensor:
    return torch.randn(3, frames, DIM, generator=torch.Generator().manual_seed(frames))


def _window_attention(attention: TemporalSelfAttention, window: torch.Tensor) -> torch.Tensor:
    """One window's attention before to_out, written out: PE rows 0..w-1 added, projected, attended."""
    n, length, channels = window.shape
    h = window + attention.pos_encoder.pe[:, :length]
    q, k, v = (
        proj(h).view(n, length, attention.heads, channels // attention.heads).transpose(1, 2)
        for proj in (attention.to_q, attention.to_k, attention.to_v)
    )
    weights = torch.softmax(q @ k.transpose(-1, -2) / (channels // attention.heads) ** 0.5, dim=-1)
    return (weights @ v).transpose(1, 2).reshape(n, length, channels)


def _reference_attention_span(block, x, **windows) -> torch.Tensor:
    for attention, norm in zip(block.attention_blocks, block.norms):
        fused = fuse_windows(lambda w: _window_attention(attention, w), norm(x), frame_dim=1, **windows)
        x = attention.to_out[0](fused) + x
    return x


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@pytest.mark.parametrize("frames", [24, 22, 64])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("tail_rule", TAIL_RULES)
def test_attention_span_equals_the_per_window_loop(block, frames, weighting, tail_rule):
    x = _inputs(frames)
    with torch.no_grad():
        out = attend_fused_attentions(block, x, weighting=weighting, tail_rule=tail_rule)
        expected = _reference_attention_span(block, x, weighting=weighting, tail_rule=tail_rule)
        plain = block.attend(x[:, :PE_LEN])  # full attention over as many frames as the table allows
    assert out.shape == x.shape
    assert _max_diff(out, expected) <= TOL
    assert _max_diff(out[:, :PE_LEN], plain) > 1e-3  # the windows really change the result


def test_attention_span_differs_from_the_stack_span(block):
    x = _inputs(24)
    with torch.no_grad():
        attention = attend_fused_attentions(block, x)
        stack = fuse_windows(block.attend, x, frame_dim=1)
    assert _max_diff(attention, stack) > 1e-3


def test_tail_rules_differ_only_where_the_tail_window_reaches(block):
    # F = 22: the tail window (6, 22) feeds frames 20 and 21; the second attention's windows over them reach back to
    # frame 6 only through the tail window, which contributes to frames 20 and 21 alone.
    x = _inputs(22)
    with torch.no_grad():
        normalized = attend_fused_attentions(block, x, tail_rule="normalized")
        diffusers = attend_fused_attentions(block, x, tail_rule="diffusers")
    assert _max_diff(normalized[:, :20], diffusers[:, :20]) <= TOL
    assert _max_diff(normalized[:, 21], diffusers[:, 21]) > 1e-3


@pytest.mark.parametrize("frames, context_length", [(16, 16), (12, 16), (24, 24)])
def test_up_to_one_window_is_plain_attention(block, frames, context_length):
    x = _inputs(frames)
    with torch.no_grad():
        assert torch.equal(attend_fused_attentions(block, x, context_length=context_length), block.attend(x))
        assert torch.equal(fuse_windows_batched(block.attend, x, context_length=context_length), block.attend(x))


def test_chunked_gathers_equal_one_gather(block):
    x = _inputs(64)
    with torch.no_grad():
        whole = attend_fused_attentions(block, x, gather_budget=10**9)
        chunked = attend_fused_attentions(block, x, gather_budget=1)  # one window per chunk
        stack_whole = fuse_windows_batched(block.attend, x, gather_budget=10**9)
        stack_chunked = fuse_windows_batched(block.attend, x, gather_budget=5 * 3 * 16 * DIM)  # 5 windows per chunk
    assert _max_diff(whole, chunked) <= TOL
    assert _max_diff(stack_whole, stack_chunked) <= TOL


@pytest.mark.parametrize("frames", [22, 64])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("tail_rule", TAIL_RULES)
def test_batched_stack_equals_the_window_loop(block, frames, weighting, tail_rule):
    x = _inputs(frames)
    windows = dict(context_length=16, stride=4, weighting=weighting, tail_rule=tail_rule)
    with torch.no_grad():
        batched = fuse_windows_batched(block.attend, x, **windows)
        loop = fuse_windows(block.attend, x, frame_dim=1, **windows)
    assert _max_diff(batched, loop) <= TOL


def test_other_strides_and_lengths(block):
    x = _inputs(37)
    windows = dict(context_length=12, stride=5, weighting="pyramid", tail_rule="normalized")
    with torch.no_grad():
        out = attend_fused_attentions(block, x, **windows)
        expected = _reference_attention_span(block, x, **windows)
        stack = fuse_windows_batched(block.attend, x, **windows)
        stack_loop = fuse_windows(block.attend, x, frame_dim=1, **windows)
    assert _max_diff(out, expected) <= TOL
    assert _max_diff(stack, stack_loop) <= TOL


def test_half_precision_keeps_its_dtype(block):
    x = _inputs(40)
    with torch.no_grad():
        reference = attend_fused_attentions(block, x)
        half = attend_fused_attentions(block.to(torch.bfloat16), x.to(torch.bfloat16))
        block.float()
    assert half.dtype == torch.bfloat16
    assert _max_diff(half.float(), reference) < 0.1 * reference.abs().max().item()


def test_window_plan_weights_and_sums():
    plan = window_plan(22, context_length=16, stride=4, weighting="pyramid", tail_rule="diffusers")
    assert (plan.regular, plan.tail, plan.num_windows) == (2, 2, 3)  # (0, 16), (4, 20) and the tail window (6, 22)
    assert plan.chunks(1) == [(0, 1), (1, 1), (2, 1)] and plan.chunks(8) == [(0, 2), (2, 1)]
    frames = torch.arange(22.0).view(1, 22, 1)
    assert plan.gather(frames, 2, 1)[0, 0, :, 0].tolist() == list(range(6, 22))
    assert plan.gather(frames, 0, 2)[0, :, 0, 0].tolist() == [0, 4]
    acc = torch.zeros(1, 22, 1)
    plan.scatter(acc, torch.ones(1, 1, 16, 1), 2)  # the tail window feeds frames 20 and 21 only
    assert acc[0, :, 0].tolist() == [0.0] * 20 + [2.0, 1.0]
    sums = 1 / plan.inv_weight_sum
    assert sums[0].item() == pytest.approx(1.0) and sums[19].item() == pytest.approx(1.0)  # only window (4, 20), at its last position
    assert sums[20:].tolist() == pytest.approx([2.0, 2.0])  # diffusers: the single value w[16 - 2] for both
    normalized = window_plan(22, context_length=16, stride=4, weighting="pyramid", tail_rule="normalized")
    assert (1 / normalized.inv_weight_sum)[20:].tolist() == pytest.approx([2.0, 1.0])  # w[14], w[15]


def test_errors_are_explained(block):
    with pytest.raises(ValueError, match="exceed the motion module's positional table of 32"):
        attend_fused_attentions(block, _inputs(48), context_length=40, stride=4)
    with pytest.raises(ValueError, match="expected hidden states"):
        attend_fused_attentions(block, torch.zeros(24, DIM))
    with pytest.raises(ValueError, match="unknown tail_rule 'zero'"):
        window_plan(24, tail_rule="zero")
    with pytest.raises(ValueError, match="needs more frames than context_length"):
        window_plan(16)
    with pytest.raises(ValueError, match="must keep the batch and frame dims"):
        fuse_windows_batched(lambda w: w[:, :4], _inputs(24))


@pytest.fixture(scope="module")
def diffusers_vector(vectors_dir):
    path = vectors_dir / "freenoise_block_pyramid_24f.safetensors"
    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata()
    tensors = load_file(str(path))
    weights = strip_prefix({k: v for k, v in tensors.items() if k.startswith("w.")}, "w.")
    heads = json.loads(meta["block_kwargs"])["num_attention_heads"]
    return meta, tensors, FreeNoiseReferenceBlock.from_state_dict(weights, heads=heads).eval()


@pytest.mark.parametrize("frames", [24, 22])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_batched_stack_reproduces_diffusers(diffusers_vector, frames, weighting):
    meta, tensors, reference = diffusers_vector
    with torch.no_grad():
        fused = fuse_windows_batched(
            reference.attention_stack, tensors[f"in_{frames}f"], context_length=int(meta["context_length"]),
            stride=int(meta["context_stride"]), weighting=weighting, tail_rule="diffusers",
        )
        out = reference.feed_forward(fused)
    assert _max_diff(out, tensors[f"out_{frames}f_{weighting}"]) <= TOL
