"""Shared pytest setup: the repository root on sys.path and the shared reference data."""
from __future__ import annotations

import os
import pathlib
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def _reference_dir() -> pathlib.Path:
    env = os.environ.get("FRAMELOOM_REFERENCE")
    return pathlib.Path(env) if env else REPO_ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> pathlib.Path:
    """The shared reference folder (key dumps and vectors). Missing data is a failure, never a skip."""
    path = _reference_dir()
    if not (path / "README.md").is_file():
        pytest.fail(f"reference data not found at {path}; set FRAMELOOM_REFERENCE to the shared/reference folder")
    return path


@pytest.fixture(scope="session")
def vectors_dir(reference_dir: pathlib.Path) -> pathlib.Path:
    return reference_dir / "vectors"


# Server and browser layers share one ComfyUI process per session.
pytest_plugins = ["tests.support.fixtures"]
