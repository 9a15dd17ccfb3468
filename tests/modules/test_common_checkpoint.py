"""Safe checkpoint reading: formats, containers, truncation, pickled code refused, layout reports."""
from __future__ import annotations

import pathlib

import pytest
import torch
from safetensors.torch import save_file

from modules.common import CheckpointError, compare_layout, load_state_dict, strip_prefix


def test_reads_safetensors_and_pickles(tmp_path: pathlib.Path):
    state = {"a.weight": torch.randn(3, 2), "a.bias": torch.randn(3)}
    save_file(state, str(tmp_path / "m.safetensors"))
    torch.save(state, tmp_path / "m.pth")
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "lightning.ckpt")
    torch.save({"module": state, "global_steps": 10}, tmp_path / "mp_rank_00_model_states.pt")
    for name in ("m.safetensors", "m.pth", "lightning.ckpt", "mp_rank_00_model_states.pt"):
        loaded = load_state_dict(tmp_path / name)
        assert set(loaded) == set(state), name
        assert torch.equal(loaded["a.weight"], state["a.weight"])


@pytest.mark.parametrize("name", ["m.safetensors", "m.pth"])
def test_truncated_file_is_a_clear_error(tmp_path: pathlib.Path, name: str):
    state = {"w": torch.randn(64, 64)}
    path = tmp_path / name
    (save_file(state, str(path)) if name.endswith("safetensors") else torch.save(state, path))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated|corrupted"):
        load_state_dict(path)


class Payload:
    """An arbitrary class: torch.load(weights_only=True) must refuse to import and build it."""


def test_pickled_objects_are_refused(tmp_path: pathlib.Path):
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(1), "extra": Payload()}, path)
    with pytest.raises(CheckpointError, match="never unpickles"):
        load_state_dict(path)


def test_not_a_checkpoint(tmp_path: pathlib.Path):
    (tmp_path / "notes.pth").write_text("hello")
    with pytest.raises(CheckpointError, match="neither a safetensors file nor a PyTorch checkpoint"):
        load_state_dict(tmp_path / "notes.pth")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_state_dict(tmp_path / "empty.safetensors")
    with pytest.raises(CheckpointError, match="not found"):
        load_state_dict(tmp_path / "missing.safetensors")


def test_strip_prefix_and_layout_report():
    state = {"module.a": torch.zeros(2, 3), "module.b": torch.zeros(1), "other": torch.zeros(1)}
    assert set(strip_prefix(state, "module.", keep_unprefixed=False)) == {"a", "b"}
    assert set(strip_prefix(state, "module.")) == {"a", "b", "other"}
    report = compare_layout({"a": torch.zeros(2, 3), "c": torch.zeros(4)}, {"a": (2, 3), "b": (1,)})
    assert not report.ok and report.missing == ["b"] and report.unexpected == ["c"]
    report = compare_layout({"a": torch.zeros(3, 3)}, {"a": (2, 3)})
    assert report.mismatched == [("a", (2, 3), (3, 3))]
    assert "expected [2, 3] found [3, 3]" in report.format()
    assert compare_layout({"a": torch.zeros(2)}, {"a": [2]}).ok
