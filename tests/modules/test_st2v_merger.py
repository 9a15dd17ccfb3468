"""CAM cross-attention merger against st2v_cam_merger.safetensors (README §5.2, tolerance 1e-5)."""
import pytest
import torch
from safetensors.torch import load_file

from modules.common import strip_prefix
from modules.streamingt2v.merger import CrossAttentionMerger

TOL = 1e-5


@pytest.fixture(scope="module")
def vec(vectors_dir):
    return load_file(str(vectors_dir / "st2v_cam_merger.safetensors"))


@pytest.fixture(scope="module")
def merger(vec):
    state = {k: v for k, v in strip_prefix(vec, "merger.", keep_unprefixed=False).items()}
    module = CrossAttentionMerger(128)  # heads = C/64 = 2, the official default
    module.load_state_dict(state, strict=True)
    return module.eval()


def test_merger_matches_reference(vec, merger):
    with torch.no_grad():
        out = merger(vec["in.sample"], vec["in.conditioning"])
    assert out.shape == vec["out.sample"].shape
    assert (out - vec["out.sample"]).abs().max() <= TOL


def test_flat_layout_agrees(vec, merger):
    sample, cond = vec["in.sample"], vec["in.conditioning"]
    with torch.no_grad():
        flat = merger.forward_flat(sample.flatten(0, 1), cond.flatten(0, 1), batch=1)
    assert (flat.view_as(sample) - vec["out.sample"]).abs().max() <= TOL


def test_conditioning_is_used_raw(vec, merger):
    # Shifting the conditioning must change the output: K/V see the raw feature, not a normalised one.
    with torch.no_grad():
        shifted = merger(vec["in.sample"], vec["in.conditioning"] + 1.0)
    assert (shifted - vec["out.sample"]).abs().max() > 1e-3


def test_bad_shapes_are_explained(vec, merger):
    with pytest.raises(ValueError, match="batch, channels and size"):
        merger(vec["in.sample"], vec["in.conditioning"][..., :2, :])
    with pytest.raises(ValueError, match=r"\[B,F,C,H,W\]"):
        merger(vec["in.sample"][0], vec["in.conditioning"])
    with pytest.raises(ValueError, match="multiple of the head dim"):
        CrossAttentionMerger(100)
