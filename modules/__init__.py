"""FrameLoom's model side: plain PyTorch, importable and testable without ComfyUI.

Nothing here imports comfy, comfy_api, folder_paths or anything from nodes/; all imports are relative.
"""
