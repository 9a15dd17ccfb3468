"""One-time safe .pt -> .safetensors conversion: the refused file names the script, the tensors come out bit-equal,
and nothing the pickle names is imported or run."""
from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import types
from collections import OrderedDict

import pytest
import torch
from safetensors.torch import load_file

from modules.common import CheckpointError, load_state_dict
from modules.common.pickle_convert import convert_checkpoint, converted_path, read_checkpoint_objects

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "convert_checkpoint.py"


class TrainingState:
    """Stands for the optimizer / config objects DeepSpeed pickles beside the weights."""

    def __init__(self) -> None:
        self.lr = 1e-4


class Exploit:
    """Unpickling this with a normal unpickler runs a shell command that writes a marker file."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"echo pwned > {self.marker}",)


def state_dict() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    base = torch.randn(6, 4, generator=g)
    return {
        "module.conv_in.weight": torch.randn(3, 9, 3, 3, generator=g).half(),
        "module.norm.weight": torch.randn(7, generator=g).to(torch.bfloat16),
        "module.tied.a": base,
        "module.tied.b": base,  # the same storage twice (tied weights)
        "module.view.t": base.t(),  # non-contiguous view of it
        "module.slice": base[2:4],  # storage offset
        "module.steps": torch.arange(5),
        "module.flags": torch.tensor([True, False]),
        "module.param": torch.nn.Parameter(torch.randn(2, 2, generator=g)),
        "module.scalar": torch.tensor(3.5, dtype=torch.float64),
    }


def write_refused(path: pathlib.Path, extra: dict) -> dict[str, torch.Tensor]:
    state = state_dict()
    torch.save({"module": OrderedDict(state), "args": argparse.Namespace(lr=1e-4, name="run"), "global_steps": 7,
                "optimizer": TrainingState(), **extra}, path)
    return state


def test_refused_file_names_the_conversion_script(tmp_path):
    path = tmp_path / "mp_rank_00_model_states.pt"
    write_refused(path, {})
    with pytest.raises(CheckpointError) as info:
        load_state_dict(path)
    message = str(info.value)
    assert "python custom_nodes/FrameLoom/scripts/convert_checkpoint.py" in message
    assert str(path) in message and "mp_rank_00_model_states.safetensors" in message


def test_conversion_keeps_exactly_the_tensors_bit_equal(tmp_path, caplog):
    path = tmp_path / "mp_rank_00_model_states.pt"
    state = write_refused(path, {})
    with caplog.at_level("INFO", logger="FrameLoom.checkpoint"):
        target, report = convert_checkpoint(path)
    assert target == converted_path(path) == str(tmp_path / "mp_rank_00_model_states.safetensors")
    loaded = load_file(target)
    assert set(loaded) == set(state)
    for key, tensor in state.items():
        assert loaded[key].dtype == tensor.dtype and loaded[key].shape == tensor.shape, key
        assert torch.equal(loaded[key].reshape(-1).view(torch.uint8), tensor.detach().reshape(-1).view(torch.uint8)), key
    assert report.container == "module" and report.tensors == len(state)
    assert {"argparse.Namespace", f"{__name__}.TrainingState"} <= report.skipped_globals
    log = caplog.text
    assert "args (argparse.Namespace)" in log and "global_steps (int)" in log and "TrainingState" in log
    # the loader now reads the converted file
    assert set(load_state_dict(target)) == set(state)
    with pytest.raises(CheckpointError, match="already exists"):
        convert_checkpoint(path)


def test_pickled_code_is_never_run_nor_imported(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    fake = types.ModuleType("frameloom_not_installed_mod")
    fake.Gadget = type("Gadget", (), {"__module__": "frameloom_not_installed_mod"})
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    path = tmp_path / "evil.pt"
    state = write_refused(path, {"exploit": Exploit(marker), "gadget": fake.Gadget()})
    monkeypatch.delitem(sys.modules, fake.__name__)  # importing it now would fail: the converter must not try
    monkeypatch.chdir(tmp_path)

    target, report = convert_checkpoint(path, out_dir=tmp_path / "converted")
    assert not marker.exists()
    assert fake.__name__ not in sys.modules
    assert {"posix.system" if os.name == "posix" else "nt.system", "frameloom_not_installed_mod.Gadget"} <= report.skipped_globals
    assert set(load_file(target)) == set(state)
    top = read_checkpoint_objects(path)
    assert type(top["exploit"]).__name__.endswith(".system")  # REDUCE on a placeholder gives a placeholder
    assert not marker.exists()


def test_script_converts_from_the_command_line(tmp_path):
    path = tmp_path / "model.pt"
    state = write_refused(path, {})
    run = subprocess.run([sys.executable, str(SCRIPT), str(path), "--out-dir", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Python objects not loaded" in run.stderr
    assert set(load_file(str(tmp_path / "out" / "model.safetensors"))) == set(state)
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    bad = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "notes.pt")], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert bad.returncode == 1 and "not a PyTorch zip checkpoint" in bad.stderr
