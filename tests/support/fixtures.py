"""Session fixtures shared by the server and browser layers: one real ComfyUI with FrameLoom and tiny models."""
from __future__ import annotations

import pathlib

import pytest
from safetensors.torch import save_file
import torch

from tests.support.media import moving_square_frames, write_video
from tests.support.server import ComfyServer
from tests.support.tiny_models import write_rife_checkpoint
from tests.support.tiny_sd import write_fancyvideo_models, write_sd15_checkpoint
from tests.support.tiny_st2v import write_st2v_models

SAMPLE_VIDEO = "frameloom_sample.mp4"  # the file name the shipped workflows reference
RIFE_FILE = "rife426.pth"  # a random 4.25-layout net under the name users have (4.26 shares the layout)
BAD_RIFE_FILE = "not_a_rife_model.safetensors"
IP2P_FILE = "instruct-pix2pix-00-22000.safetensors"  # the published InstructPix2Pix file name


def prepare_base_dir(base: pathlib.Path) -> pathlib.Path:
    rife_dir = base / "models" / "frameloom" / "rife"
    write_rife_checkpoint(rife_dir / RIFE_FILE, "4.25")
    save_file({"encoder.weight": torch.zeros(4, 4), "decoder.bias": torch.zeros(4)}, str(rife_dir / BAD_RIFE_FILE))
    write_video(base / "input" / SAMPLE_VIDEO, moving_square_frames(8, 64, 96), fps=8)
    write_fancyvideo_models(base)
    write_sd15_checkpoint(base / "models" / "checkpoints" / IP2P_FILE, seed=1, instruct_pix2pix=True)
    write_st2v_models(base)  # StreamingT2V extend workflow: denoiser, OpenCLIP, VAE, 16-frame clip
    return base


def assert_pack_loaded(log: str) -> None:
    """FrameLoom imported and registered its nodes (ComfyUI's own optional extras may fail here without torchaudio)."""
    ours = [line for line in log.splitlines() if "FrameLoom" in line]
    failed = [line for line in ours if "IMPORT FAILED" in line or "Error while calling comfy_entrypoint" in line]
    assert not failed, "\n".join(failed) + "\n" + log[-4000:]
    assert any("custom_nodes/FrameLoom" in line and "seconds" in line for line in ours), log[-4000:]


@pytest.fixture(scope="session")
def comfy_server(tmp_path_factory) -> ComfyServer:
    base = prepare_base_dir(tmp_path_factory.mktemp("comfy_home"))
    server = ComfyServer(base).start()
    try:
        assert_pack_loaded(server.log())
        yield server
    finally:
        server.stop()
