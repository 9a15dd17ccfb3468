"""RIFE checkpoint loading: key formats, version detection and hints, clear errors for bad files."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from modules.common import CheckpointError, load_state_dict
from modules.rife import (
    SUPPORTED_VERSIONS,
    detect_version,
    expected_layout,
    load_ifnet,
    load_ifnet_file,
    parse_version_hint,
)
from tests.support.rife_weights import read_key_dump, rebuild_weights


@pytest.fixture(scope="module")
def key_dump(reference_dir):
    return read_key_dump(reference_dir)


@pytest.fixture(scope="module")
def weights(key_dump):
    cache: dict[str, dict[str, torch.Tensor]] = {}

    def get(version: str) -> dict[str, torch.Tensor]:
        if version not in cache:
            cache[version] = rebuild_weights(key_dump[version]["keys"])
        return cache[version]

    return get


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_detects_every_version(weights, version):
    assert detect_version(weights(version)) == version


def test_module_prefix_keeps_only_prefixed_keys(weights):
    state = {f"module.{k}": v for k, v in weights("4.7").items()}
    state["stray_without_prefix"] = torch.zeros(3)  # the official loader drops keys without 'module.'
    net = load_ifnet(state)
    assert net.version == "4.7" and not net.training
    assert torch.equal(net.block0.conv0[0][0].weight, weights("4.7")["block0.conv0.0.0.weight"])


def test_training_only_tensors_are_ignored(key_dump, weights):
    extra = key_dump["4.22"]["training_only_keys_in_official_class"]
    assert len(extra) == 40 and all(k.startswith(("teacher.", "caltime.")) for k in extra)
    state = {f"module.{k}": v for k, v in weights("4.22").items()}
    state.update({f"module.{k}": torch.zeros(shape) for k, shape in extra.items()})
    assert load_ifnet(state).version == "4.22"


def test_not_a_rife_checkpoint_lists_found_keys():
    state = {"conv_in.weight": torch.zeros(4, 3, 3, 3), "time_embed.0.bias": torch.zeros(8)}
    with pytest.raises(CheckpointError, match="not a RIFE") as info:
        load_ifnet(state)
    assert "conv_in.weight" in str(info.value) and "block0.conv0.0.0.weight" in str(info.value)
    with pytest.raises(CheckpointError, match="mapping"):
        load_ifnet([torch.zeros(1)])


def test_damaged_layout_is_reported(weights):
    state = dict(weights("4.25"))
    del state["block2.convblock.3.beta"]
    with pytest.raises(CheckpointError, match=r"4\.25.*block2\.convblock\.3\.beta"):
        load_ifnet(state)
    state = dict(weights("4.25"))
    state["block1.lastconv.0.bias"] = torch.zeros(50)
    with pytest.raises(CheckpointError, match=r"block1\.lastconv\.0\.bias expected \[52\] found \[50\]"):
        load_ifnet(state)
    state = dict(weights("4.25"))
    state["block0.conv0.0.0.weight"] = torch.zeros(96, 14, 3, 3)  # an unknown layout: the closest one is named
    with pytest.raises(CheckpointError, match=r"unsupported layout.*Closest is 4\.25"):
        load_ifnet(state)


def test_version_hints(weights):
    net = load_ifnet(weights("4.25"), version_hint="4.26")
    assert net.version == "4.26" and net.config.layout == "4.25"
    assert load_ifnet(weights("4.17"), version_hint="4.24").config.ensemble
    with pytest.raises(CheckpointError, match=r"hint '4\.17'.*layout of RIFE 4\.25"):
        load_ifnet(weights("4.25"), version_hint="4.17")
    with pytest.raises(ValueError, match="unknown RIFE version"):
        load_ifnet(weights("4.25"), version_hint="5.0")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("rife426.pth", "4.26"),
        ("rife47.pth", "4.7"),
        ("rife49.pth", "4.9"),
        ("rife417.pth", "4.17"),
        ("flownet_v4.13.pkl", "4.13"),
        ("flownet_v4.14.lite.pkl", "4.14.lite"),
        ("models/RIFE_v4.25_lite.safetensors", "4.25.lite"),
        ("rife4.26-heavy.pth", "4.26.heavy"),
        ("flownet.pkl", None),
        ("sudo_rife4_269.662_testV1_scale1.pth", None),
        ("rife_v4.10.pth", None),
    ],
)
def test_parse_version_hint(name, expected):
    assert parse_version_hint(name) == expected


def test_files_end_to_end(tmp_path, weights):
    pth = tmp_path / "rife426.pth"
    torch.save(weights("4.25"), pth)
    assert load_ifnet_file(pth).version == "4.26"
    pkl = tmp_path / "flownet_v4.13.pkl"
    torch.save({f"module.{k}": v for k, v in weights("4.17").items()}, pkl)
    assert load_ifnet_file(pkl).version == "4.13"
    sft = tmp_path / "rife_v4.22.lite.safetensors"
    save_file(weights("4.22.lite"), str(sft))
    net = load_ifnet_file(sft)
    assert net.version == "4.22.lite" and set(net.state_dict()) == set(expected_layout("4.22.lite"))


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_truncated_files(tmp_path, weights, suffix):
    path = tmp_path / f"rife415lite{suffix}"
    state = weights("4.15.lite")
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_state_dict(path)
    with pytest.raises(CheckpointError):
        load_ifnet_file(path)
