"""RIFE IFNet against the reference: layouts of all ten versions, and every case of the 128x128 vectors."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from modules.rife import (
    ALIASES,
    SUPPORTED_VERSIONS,
    expected_layout,
    get_config,
    interpolate_pair,
    interpolate_pair_detailed,
    load_ifnet,
)
from modules.rife.loader import layout_signature
from tests.support.rife_weights import read_key_dump, rebuild_weights, weights_sha256

VECTOR_VERSIONS = ("4.6", "4.7", "4.17", "4.22", "4.25")
# Frames: the README's fp32 CPU tolerance. Flow (up to ~18 px) and mask logits: larger magnitudes, looser bound.
# Measured on the 2-core CI machine: frames <= 3e-6, flow <= 1.1e-5, mask <= 4.3e-6 (kernel accumulation order;
# the same code is bit-identical to vs-rife run on the same machine).
FRAME_ATOL = 1e-5
FIELD_ATOL = 1e-4


@pytest.fixture(scope="module")
def key_dump(reference_dir):
    return read_key_dump(reference_dir)


@pytest.fixture(scope="module")
def inputs(vectors_dir):
    frames = load_file(str(vectors_dir / "rife_inputs_128x128.safetensors"))
    return tuple(frames[name].float().unsqueeze(0) / 255 for name in ("frame0_u8", "frame1_u8"))


def _vector(vectors_dir, version):
    with safe_open(str(vectors_dir / f"rife_v{version.replace('.', '_')}_ifnet_128x128.safetensors"), "pt") as fh:
        return fh.metadata(), {key: fh.get_tensor(key) for key in fh.keys()}


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_layout_matches_key_dump(key_dump, version):
    entry = key_dump[version]
    expected = {key: tuple(shape) for key, shape in entry["keys"].items()}
    assert expected_layout(version) == expected
    assert sum(torch.Size(s).numel() for s in expected_layout(version).values()) == entry["num_params"]
    cfg = get_config(version)
    assert cfg.scale_list(1.0) == [float(s) for s in entry["scale_list_at_scale_1"]]
    assert cfg.pad_modulo == entry["pad_modulo_at_scale_1"]
    assert cfg.ensemble == entry["ensemble_supported"]


def test_layout_signatures_are_unique():
    signatures = {layout_signature(v) for v in SUPPORTED_VERSIONS}
    assert len(signatures) == len(SUPPORTED_VERSIONS)


def test_alias_rows(reference_dir):
    with open(reference_dir / "rife_v4_ifnet_keys.json", encoding="utf-8") as fh:
        assert json.load(fh)["aliases_same_layout"] == ALIASES
    for alias, target in ALIASES.items():
        cfg, base = get_config(alias), get_config(target)
        assert cfg.version == alias and cfg.layout == target
        assert expected_layout(alias) == expected_layout(target)
        assert (cfg.scale_base, cfg.mask_accumulates, cfg.ensemble) == (base.scale_base, base.mask_accumulates, base.ensemble)
    # Feature-passing versions have no ensemble; 4.24 keeps the 4.17 one.
    assert not get_config("4.21").ensemble and not get_config("4.26").ensemble
    assert get_config("4.24").ensemble
    with pytest.raises(ValueError, match="unknown RIFE version"):
        get_config("4.10")


@pytest.mark.parametrize("version", VECTOR_VERSIONS)
def test_reference_vectors(vectors_dir, key_dump, inputs, version):
    meta, tensors = _vector(vectors_dir, version)
    weights = rebuild_weights(key_dump[version]["keys"], seed=int(meta["seed"]))
    assert weights_sha256(weights) == meta["weights_sha256"], "weight rebuild differs from the reference"
    net = load_ifnet(weights)
    assert net.version == version
    img0, img1 = inputs
    cases = json.loads(meta["cases"])
    assert len(cases) == (4 if get_config(version).ensemble else 3)
    for case in cases:
        name = case["case"]
        assert net.config.scale_list(case["scale"]) == case["scale_list"]
        result = interpolate_pair_detailed(net, img0, img1, case["timestep"], case["scale"], case["ensemble"])
        diff = (result.frame[0] - tensors[f"out__{name}"]).abs().max().item()
        assert diff <= FRAME_ATOL, f"{version} {name}: frame max |diff| {diff}"
        if f"flow__{name}" in tensors:
            flow_diff = (result.flow[0] - tensors[f"flow__{name}"]).abs().max().item()
            mask_diff = (result.mask_logits[0] - tensors[f"mask_logits__{name}"]).abs().max().item()
            assert flow_diff <= FIELD_ATOL and mask_diff <= FIELD_ATOL, f"{version} {name}: {flow_diff}, {mask_diff}"
    # The public entry point returns the same frame.
    first = cases[0]
    frame = interpolate_pair(net, img0, img1, first["timestep"], first["scale"])
    assert (frame[0] - tensors[f"out__{first['case']}"]).abs().max().item() <= FRAME_ATOL
    # Flow and mask are present exactly for the versions the README lists.
    assert ("flow__t0.5_s1.0" in tensors) == (version in ("4.17", "4.22", "4.25"))
