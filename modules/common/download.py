"""Opt-in download of pinned model files: a fixed URL and SHA-256 per file, temporary name, rename when verified.

Never called at import time or from a node's constructor; loaders call it only when the user enables downloading.
Hugging Face files honour HF_ENDPOINT (so a mirror, or a loopback server in tests, can serve them).
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from typing import Callable, Optional

logger = logging.getLogger("FrameLoom.download")

HF_DEFAULT_ENDPOINT = "https://huggingface.co"
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A pinned download that failed or did not verify; nothing is left at the destination."""


@dataclass(frozen=True)
class PinnedFile:
    """One downloadable file. Either `hf_repo` (+ `revision`, `path`) or a fixed `url`."""

    filename: str
    sha256: str
    size: Optional[int] = None
    hf_repo: Optional[str] = None
    revision: str = "main"
    path: Optional[str] = None
    url: Optional[str] = None
    licence: str = ""

    def resolve_url(self) -> str:
        if self.hf_repo:
            endpoint = os.environ.get("HF_ENDPOINT", HF_DEFAULT_ENDPOINT).rstrip("/")
            return f"{endpoint}/{self.hf_repo}/resolve/{self.revision}/{self.path or self.filename}"
        if self.url:
            return self.url
        raise DownloadError(f"no source is pinned for '{self.filename}'")


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download_pinned(
    pinned: PinnedFile,
    folder: str,
    progress: Optional[Callable[[int, int], None]] = None,
    timeout: float = 60.0,
) -> str:
    """Download `pinned` into `folder` and return the final path; an existing verified file is reused.

    The bytes go to a temporary file in the same folder and are renamed only after the SHA-256 matches, so an interrupted
    or corrupted transfer never leaves a file that a loader would pick up.
    """
    os.makedirs(folder, exist_ok=True)
    final = os.path.join(folder, pinned.filename)
    if os.path.isfile(final):
        if sha256_of(final) == pinned.sha256:
            return final
        raise DownloadError(
            f"'{final}' exists but its SHA-256 differs from the pinned {pinned.sha256}; "
            "remove or rename it to download a fresh copy (it was left untouched)."
        )
    url = pinned.resolve_url()
    logger.info("downloading %s from %s", pinned.filename, url)
    fd, tmp = tempfile.mkstemp(prefix=f".{pinned.filename}.", suffix=".part", dir=folder)
    digest = hashlib.sha256()
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "FrameLoom"})
        with urllib.request.urlopen(request, timeout=timeout) as response, os.fdopen(fd, "wb") as out:
            total = int(response.headers.get("Content-Length") or pinned.size or 0)
            done = 0
            for block in iter(lambda: response.read(_CHUNK), b""):
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
        found = digest.hexdigest()
        if found != pinned.sha256:
            raise DownloadError(
                f"download of '{pinned.filename}' from {url} did not verify: expected SHA-256 {pinned.sha256}, "
                f"found {found} ({done} bytes). Nothing was saved."
            )
        os.replace(tmp, final)
        return final
    except DownloadError:
        raise
    except Exception as exc:  # network errors come in many types; the message keeps the cause
        raise DownloadError(f"download of '{pinned.filename}' from {url} failed: {exc}. Nothing was saved.") from exc
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
