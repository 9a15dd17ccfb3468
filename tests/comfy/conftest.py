"""In-process ComfyUI: comfy is importable (CPU) and the pack is importable as the package 'FrameLoom'."""
from __future__ import annotations

import pytest
import torch

from tests.support.runtime import enable_inprocess_comfy, import_pack


@pytest.fixture(scope="session")
def comfy_runtime(tmp_path_factory):
    enable_inprocess_comfy()
    import comfy.model_management
    import folder_paths

    # node outputs written to ComfyUI's temp/output folders (previews) stay out of the provisioned runtime
    folder_paths.set_temp_directory(str(tmp_path_factory.mktemp("comfy_temp")))
    folder_paths.set_output_directory(str(tmp_path_factory.mktemp("comfy_output")))
    return comfy.model_management


@pytest.fixture(scope="session")
def frameloom(comfy_runtime):
    """The pack imported as ComfyUI would import it (relative imports into nodes/ and modules/ resolve)."""
    return import_pack()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models are all per-op overhead: one intra-op thread is faster, and avoids OpenMP oversubscription when the
    2-core CI machine is busy (a 10-step tiny run: 0.6 s vs 40 s under load). Results hold for any thread count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
