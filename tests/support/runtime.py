"""Where the provisioned ComfyUI runtime lives (see scripts/provision.sh) and how to import it in-process."""
from __future__ import annotations

import importlib.util
import os
import pathlib
import sys
from types import ModuleType

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
CACHE = pathlib.Path(os.environ.get("FRAMELOOM_CACHE", REPO_ROOT / ".frameloom"))
COMFYUI_DIR = CACHE / "comfyui"
STUBS_DIR = CACHE / "stubs"
PACKAGE_NAME = "FrameLoom"


def require_runtime() -> pathlib.Path:
    if not (COMFYUI_DIR / "main.py").is_file():
        raise RuntimeError(f"ComfyUI runtime not provisioned at {COMFYUI_DIR}; run scripts/provision.sh (scripts/test.sh does)")
    return COMFYUI_DIR


def enable_inprocess_comfy() -> None:
    """Make `import comfy...` work in this process on the CPU. Must run before comfy.model_management is imported."""
    root = str(require_runtime())
    for path in (root, str(STUBS_DIR)):
        if path not in sys.path:
            sys.path.append(path)
    if "comfy.model_management" in sys.modules:
        return
    # ComfyUI parses sys.argv when comfy.cli_args is first imported; give it only its own flags, not pytest's.
    saved_argv = sys.argv
    sys.argv = [saved_argv[0], "--cpu"]
    try:
        import comfy.options

        comfy.options.enable_args_parsing()
        import comfy.cli_args

        comfy.cli_args.args.cpu = True
        import comfy.model_management  # noqa: F401  (selects the CPU device now, with the arguments above)
    finally:
        sys.argv = saved_argv


def import_pack() -> ModuleType:
    """Import the repository as the package 'FrameLoom', as ComfyUI does when it loads custom_nodes/FrameLoom."""
    if PACKAGE_NAME in sys.modules:
        return sys.modules[PACKAGE_NAME]
    spec = importlib.util.spec_from_file_location(
        PACKAGE_NAME, REPO_ROOT / "__init__.py", submodule_search_locations=[str(REPO_ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE_NAME] = module
    spec.loader.exec_module(module)
    return module
