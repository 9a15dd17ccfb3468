"""The RIFE nodes inside an in-process ComfyUI: model folders, the opt-in download path, and interpolation."""
from __future__ import annotations

import hashlib
import http.server
import threading

import pytest
import torch
from safetensors.torch import save

from tests.support.tiny_models import random_state


@pytest.fixture()
def rife_folder(frameloom, tmp_path, monkeypatch):
    import folder_paths

    from FrameLoom.nodes.paths import register_model_folders

    register_model_folders()
    monkeypatch.setitem(folder_paths.folder_names_and_paths, "frameloom_rife",
                        ([str(tmp_path)], set(folder_paths.supported_pt_extensions)))
    return tmp_path


def test_model_folders_registered(frameloom):
    import folder_paths

    from FrameLoom.nodes.paths import MODEL_FOLDERS, register_model_folders

    register_model_folders()
    register_model_folders()  # idempotent
    for name, sub in MODEL_FOLDERS.items():
        paths, exts = folder_paths.folder_names_and_paths[name]
        assert paths[0].endswith(sub) and ".safetensors" in exts and ".pkl" in exts
        assert len(paths) == len(set(paths))


def _serve(payload: bytes):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_loader_downloads_only_when_asked(frameloom, rife_folder, monkeypatch):
    from FrameLoom.modules.common.download import PinnedFile
    from FrameLoom.modules.rife import expected_layout
    from FrameLoom.nodes import catalog
    from FrameLoom.nodes.rife import FrameLoomRIFELoader

    payload = save(random_state(expected_layout("4.25")))
    server = _serve(payload)
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        pinned = PinnedFile(filename="rife_v4.25_mirror.safetensors", sha256=hashlib.sha256(payload).hexdigest(), hf_repo="org/rife")
        monkeypatch.setitem(catalog.CATALOG, "frameloom_rife", {pinned.filename: pinned})
        with pytest.raises(FileNotFoundError, match="download_if_missing"):
            FrameLoomRIFELoader.execute(pinned.filename, "fp32", False)
        assert list(rife_folder.iterdir()) == []
        out = FrameLoomRIFELoader.execute(pinned.filename, "fp32", True)
        model = out.result[0]
        assert model.version == "4.25" and model.dtype == torch.float32
        assert (rife_folder / pinned.filename).read_bytes() == payload
    finally:
        server.shutdown()


def test_interpolate_node_keeps_originals(frameloom, rife_folder):
    from safetensors.torch import save_file

    from FrameLoom.modules.rife import expected_layout
    from FrameLoom.nodes.rife import FrameLoomRIFEInterpolate, FrameLoomRIFELoader

    save_file(random_state(expected_layout("4.7")), str(rife_folder / "rife47.safetensors"))
    model = FrameLoomRIFELoader.execute("rife47.safetensors", "auto").result[0]
    assert model.version == "4.7" and model.dtype == torch.float32  # auto is fp32 on the CPU
    frames = torch.rand(4, 37, 53, 3)
    images, fps = FrameLoomRIFEInterpolate.execute(model, frames, 3, "1.0", True, 0.0, 2, 10.0).result
    assert images.shape == (10, 37, 53, 3) and images.dtype == torch.float32
    assert torch.equal(images[::3], frames) and fps == 30.0
    assert images.min() >= 0 and images.max() <= 1
