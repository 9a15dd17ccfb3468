"""E_cond (both variants) against st2v_cond_embedding_small.safetensors (README §5.5, tolerance 1e-5)."""
import pytest
import torch
from safetensors.torch import load_file

from modules.common import strip_prefix
from modules.streamingt2v.cond_embedding import CondFrameEncoder

TOL = 1e-5
SMALL = dict(out_channels=16, block_channels=(8, 16, 16, 32))


@pytest.fixture(scope="module")
def vec(vectors_dir):
    return load_file(str(vectors_dir / "st2v_cond_embedding_small.safetensors"))


@pytest.mark.parametrize("variant", ["ms", "svd"])
def test_variant_matches_reference(vec, variant):
    encoder = CondFrameEncoder(**SMALL, variant=variant)
    encoder.load_state_dict(strip_prefix(vec, f"{variant}.", keep_unprefixed=False), strict=True)
    with torch.no_grad():
        out = encoder(vec["in.frames"])
    assert out.shape == vec[f"out.{variant}"].shape == (2, 16, 4, 4)
    assert (out - vec[f"out.{variant}"]).abs().max() <= TOL


def test_variants_differ_only_by_norms(vec):
    ms = CondFrameEncoder(**SMALL, variant="ms").state_dict()
    svd = CondFrameEncoder(**SMALL, variant="svd").state_dict()
    assert sorted(k for k in svd if k not in ms) == sorted(f"norms.{i}.{p}" for i in range(6) for p in ("weight", "bias"))


def test_official_layout():
    shapes = {k: list(v.shape) for k, v in CondFrameEncoder().state_dict().items()}
    assert shapes["blocks.1.weight"] == [96, 32, 3, 3]
    assert shapes["blocks.5.weight"] == [512, 256, 3, 3]
    assert shapes["conv_out.weight"] == [320, 512, 3, 3]


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        CondFrameEncoder(**SMALL)(torch.zeros(2, 4, 32, 32))
    with pytest.raises(ValueError, match="variant"):
        CondFrameEncoder(variant="xl")
