"""The window-fused motion block against vectors/freenoise_block_pyramid_24f.safetensors (diffusers 0.42.1)."""
from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from modules.common import CheckpointError, strip_prefix
from modules.freenoise import FreeNoiseReferenceBlock, sinusoidal_table

TOL = 1e-5
WEIGHTINGS = ["pyramid", "flat", "delayed_reverse_sawtooth"]


@pytest.fixture(scope="module")
def vector(vectors_dir):
    path = vectors_dir / "freenoise_block_pyramid_24f.safetensors"
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    return meta, load_file(str(path))


@pytest.fixture(scope="module")
def block(vector):
    meta, tensors = vector
    weights = strip_prefix({k: v for k, v in tensors.items() if k.startswith("w.")}, "w.")
    heads = json.loads(meta["block_kwargs"])["num_attention_heads"]
    return FreeNoiseReferenceBlock.from_state_dict(weights, heads=heads).eval()


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@pytest.mark.parametrize("frames", [24, 22])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_window_fused_block_matches_diffusers(vector, block, frames, weighting):
    meta, tensors = vector
    with torch.no_grad():
        out = block(
            tensors[f"in_{frames}f"],
            context_length=int(meta["context_length"]),
            stride=int(meta["context_stride"]),
            weighting=weighting,
            tail_rule="diffusers",
        )
    assert _max_diff(out, tensors[f"out_{frames}f_{weighting}"]) <= TOL


@pytest.mark.parametrize("frames", [24, 22])
def test_plain_full_attention_matches(vector, block, frames):
    _, tensors = vector
    with torch.no_grad():
        out = block(tensors[f"in_{frames}f"], context_length=None)
    assert _max_diff(out, tensors[f"out_{frames}f_plain_full_attention"]) <= TOL


def test_windowing_changes_the_output(vector, block):
    # Guards against a fusion that silently falls back to one full pass.
    _, tensors = vector
    assert _max_diff(tensors["out_24f_pyramid"], tensors["out_24f_plain_full_attention"]) > 1e-3


def test_normalized_tail_differs_only_on_the_tail(vector, block):
    _, tensors = vector
    with torch.no_grad():
        out = block(tensors["in_22f"], weighting="pyramid", tail_rule="normalized")
    ref = tensors["out_22f_pyramid"]
    assert _max_diff(out[:, :21], ref[:, :21]) <= TOL  # frame 20 has w[-2] = w[14]: the quirk is invisible there
    assert _max_diff(out[:, 21], ref[:, 21]) > 1e-2


def test_one_window_equals_full_attention(vector, block):
    _, tensors = vector
    x = tensors["in_24f"][:, :12]
    with torch.no_grad():
        assert torch.equal(block(x), block.plain_full_attention(x))


def test_sinusoidal_table_formula():
    table = sinusoidal_table(32, 64)
    assert table.shape == (1, 32, 64)
    assert table[0, 0, 0::2].abs().max() == 0 and torch.all(table[0, 0, 1::2] == 1)
    assert table[0, 5, 6].item() == pytest.approx(math.sin(5 * 10000 ** (-6 / 64)), abs=1e-6)
    assert table[0, 7, 11].item() == pytest.approx(math.cos(7 * 10000 ** (-10 / 64)), abs=1e-6)


def test_bad_weights_and_lengths_are_explained(vector, block):
    _, tensors = vector
    weights = strip_prefix({k: v for k, v in tensors.items() if k.startswith("w.")}, "w.")
    broken = dict(weights)
    broken["attn1.to_q.weight"] = broken["attn1.to_q.weight"][:, :32]
    with pytest.raises(CheckpointError, match="attn1.to_q.weight expected \\[64, 64\\] found \\[64, 32\\]"):
        FreeNoiseReferenceBlock.from_state_dict(broken)
    with pytest.raises(CheckpointError, match="'pos_embed.pe' is missing"):
        FreeNoiseReferenceBlock.from_state_dict({k: v for k, v in weights.items() if k != "pos_embed.pe"})
    with pytest.raises(ValueError, match="context_length 40 exceeds the motion module's positional-embedding length 32"):
        block(tensors["in_24f"], context_length=40)
    with pytest.raises(ValueError, match="40 frames in one attention pass exceed the positional table of 32"):
        block(torch.zeros(1, 40, 64), context_length=None)
