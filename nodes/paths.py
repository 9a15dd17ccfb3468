"""FrameLoom's model folders under ComfyUI's models directory (so extra_model_paths.yaml can add more)."""
from __future__ import annotations

import os

import folder_paths

# ComfyUI folder name -> sub-path under models/. Standard kinds (checkpoints, vae, clip_vision, controlnet) stay in
# ComfyUI's own folders; these hold FrameLoom-specific files.
MODEL_FOLDERS: dict[str, str] = {
    "frameloom_rife": os.path.join("frameloom", "rife"),
    "frameloom_fancyvideo": os.path.join("frameloom", "fancyvideo"),
    "frameloom_cvvae": os.path.join("frameloom", "cvvae"),
    "frameloom_resadapter": os.path.join("frameloom", "resadapter"),
    "frameloom_streamingt2v": os.path.join("frameloom", "streamingt2v"),
    "frameloom_flow": os.path.join("frameloom", "flow"),
}


def register_model_folders() -> None:
    """Register every FrameLoom folder; idempotent, and keeps paths another config already added."""
    extensions = set(folder_paths.supported_pt_extensions)
    for name, sub in MODEL_FOLDERS.items():
        folder_paths.add_model_folder_path(name, os.path.join(folder_paths.models_dir, sub), is_default=True)
        paths, exts = folder_paths.folder_names_and_paths[name]
        if not exts:
            folder_paths.folder_names_and_paths[name] = (paths, extensions)


def default_folder(name: str) -> str:
    """The first (default) directory of a FrameLoom model folder, where downloads are written."""
    return folder_paths.get_folder_paths(name)[0]
