"""Files FrameLoom can download on request, per model folder. Each is pinned by SHA-256; a mismatch is refused.

The RIFE hashes are those published for the ComfyUI-Frame-Interpolation release files; they could not be re-checked
from this build machine (no access to the hosts), so a wrong pin would fail safely with a verification error.
"""
from __future__ import annotations

from ..modules.common.download import PinnedFile

_FRAME_INTERPOLATION_RELEASE = "https://github.com/Fannovel16/ComfyUI-Frame-Interpolation/releases/download/models/"

CATALOG: dict[str, dict[str, PinnedFile]] = {
    "frameloom_rife": {
        "rife47.pth": PinnedFile(
            filename="rife47.pth",
            url=_FRAME_INTERPOLATION_RELEASE + "rife47.pth",
            sha256="6a8a825ab2750558bdd20dcced386fd82b7222c7ba58c11d3b611d9c44f1be63",
            licence="MIT",
        ),
        "rife426.pth": PinnedFile(
            filename="rife426.pth",
            url=_FRAME_INTERPOLATION_RELEASE + "rife426.pth",
            sha256="606421fe2148a9fdeca14e58d94dc339e87b87e0ebcc5dec84a50d6f488cfe7b",
            licence="MIT",
        ),
    },
}


def downloadable(folder: str) -> dict[str, PinnedFile]:
    return CATALOG.get(folder, {})
