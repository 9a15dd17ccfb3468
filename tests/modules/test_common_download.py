"""Pinned downloads against a loopback server standing in for the Hugging Face endpoint."""
from __future__ import annotations

import hashlib
import http.server
import os
import pathlib
import threading

import pytest

from modules.common.download import DownloadError, PinnedFile, download_pinned

PAYLOAD = os.urandom(3 * (1 << 20) + 123)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        if self.path == "/org/repo/resolve/main/model.safetensors":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture()
def hf_endpoint(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    yield
    server.shutdown()


def pinned(sha: str) -> PinnedFile:
    return PinnedFile(filename="model.safetensors", sha256=sha, hf_repo="org/repo")


def test_downloads_verifies_and_renames(tmp_path: pathlib.Path, hf_endpoint):
    seen = []
    path = download_pinned(pinned(hashlib.sha256(PAYLOAD).hexdigest()), str(tmp_path), progress=lambda d, t: seen.append((d, t)))
    assert pathlib.Path(path).read_bytes() == PAYLOAD
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    # a second call reuses the verified file without a request
    assert download_pinned(pinned(hashlib.sha256(PAYLOAD).hexdigest()), str(tmp_path)) == path


def test_hash_mismatch_leaves_nothing(tmp_path: pathlib.Path, hf_endpoint):
    with pytest.raises(DownloadError, match="did not verify"):
        download_pinned(pinned("0" * 64), str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_missing_file_and_existing_wrong_file(tmp_path: pathlib.Path, hf_endpoint):
    with pytest.raises(DownloadError, match="404"):
        download_pinned(PinnedFile(filename="nope.bin", sha256="0" * 64, hf_repo="org/repo"), str(tmp_path))
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "model.safetensors").write_bytes(b"not it")
    with pytest.raises(DownloadError, match="left untouched"):
        download_pinned(pinned(hashlib.sha256(PAYLOAD).hexdigest()), str(tmp_path))
    assert (tmp_path / "model.safetensors").read_bytes() == b"not it"
