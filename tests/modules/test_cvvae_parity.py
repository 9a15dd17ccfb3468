"""CV-VAE numeric parity with vectors/fancyvideo_cvvae_tiny.safetensors (official CVVAEModel, seeded weights)."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from modules.common import CheckpointError
from modules.fancyvideo.cvvae import CVVAE, CVVAEConfig, infer_config

VECTOR = "fancyvideo_cvvae_tiny.safetensors"
SCALE = 0.18215
CASES = ["v21", "v1", "v14_16x16", "l6", "l1", "tiled_v5_16x80", "tiled_l2_2x10", "tiled_v1_80x80", "tiled_l1_10x10"]


@pytest.fixture(scope="module")
def vector(vectors_dir):
    path = vectors_dir / VECTOR
    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata()
    return meta, load_file(str(path))


@pytest.fixture(scope="module")
def weights(vector):
    return {k[2:]: v for k, v in vector[1].items() if k.startswith("w.")}  # float8 values, exact in float32


@pytest.fixture(scope="module")
def models(vector, weights):
    meta = vector[0]
    return {name: CVVAE.from_state_dict(weights, CVVAEConfig.from_metadata(meta[f"config_{name}"]))
            for name in ("main", "tiled")}


def run_case(model: CVVAE, tensors: dict, case: str) -> tuple[torch.Tensor, torch.Tensor]:
    if f"enc.{case}.video" in tensors:
        return model.encode_moments(tensors[f"enc.{case}.video"].float()), tensors[f"enc.{case}.moments"]
    return model.decode((1 / SCALE) * tensors[f"dec.{case}.latents"]), tensors[f"dec.{case}.video"]


def test_every_case_is_covered(vector):
    assert sorted(json.loads(vector[0]["cases"])) == sorted(CASES)


@pytest.mark.parametrize("case", CASES)
def test_fp32_parity(models, vector, case):
    model = models["tiled" if case.startswith("tiled") else "main"]
    out, ref = run_case(model, vector[1], case)
    assert out.shape == ref.shape
    diff = (out - ref).abs().max().item()
    assert diff <= 1e-5, f"{case}: max |diff| {diff:.3g}"


def test_tiling_really_changes_the_result(models, vector):
    # The tiled case must not be reproducible without tiles (guards against a tiler that silently does nothing).
    out, ref = run_case(models["main"], vector[1], "tiled_l1_10x10")
    assert (out - ref).abs().max().item() > 0.1


def test_metadata_configs(vector):
    meta = vector[0]
    assert CVVAEConfig.from_metadata(meta["config_released"]) == CVVAEConfig()
    tiled = CVVAEConfig.from_metadata(json.loads(meta["config_tiled"]))
    assert (tiled.ch, tiled.ch_mult, tiled.tile_spatial_size) == (32, [1, 1, 1, 1], 72)


def test_from_state_dict_infers_tiny_config(weights, vector):
    config = infer_config(weights)
    assert (config.ch, config.ch_mult, config.num_res_blocks, config.z_channels) == (32, [1, 1, 1, 1], 2, 4)
    assert config.tile_spatial_size == 576 and config.scaling_factor == SCALE
    model = CVVAE.from_state_dict(weights)
    out, ref = run_case(model, vector[1], "l1")
    assert (out - ref).abs().max().item() <= 1e-5


def test_from_state_dict_refuses_wrong_config(weights):
    with pytest.raises(CheckpointError, match=r"a CV-VAE with ch=32, ch_mult=\[1, 1, 1, 1\]"):
        CVVAE.from_state_dict(weights, CVVAEConfig())


def test_encode_mean_and_seeded_sample(models, vector):
    model, video = models["main"], vector[1]["enc.v1.video"].float()
    moments = vector[1]["enc.v1.moments"]
    mean = model.encode(video)
    assert (mean - moments[:, :4]).abs().max().item() <= 1e-5
    first = model.encode(video, sample=True, generator=torch.Generator().manual_seed(7))
    again = model.encode(video, sample=True, generator=torch.Generator().manual_seed(7))
    eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(7))
    expected = moments[:, :4] + torch.exp(0.5 * moments[:, 4:].clamp(-30, 20)) * eps
    assert torch.equal(first, again)
    assert (first - expected).abs().max().item() <= 1e-5


@pytest.mark.parametrize("dtype,tol", [(torch.bfloat16, 0.1)])
def test_low_precision_decode(weights, vector, dtype, tol):
    # bf16 weights and activations; the output keeps the input's dtype (fp32). Measured error ~0.03 on this case.
    config = CVVAEConfig.from_metadata(vector[0]["config_tiled"])
    model = CVVAE.from_state_dict(weights, config, dtype=dtype)
    assert model.dtype == dtype
    out, ref = run_case(model, vector[1], "tiled_l1_10x10")
    assert out.dtype == torch.float32
    assert (out - ref).abs().max().item() <= tol
