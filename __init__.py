"""FrameLoom: long, consistent video on one consumer GPU, as ComfyUI nodes.

Registration only. Nodes, model folders and the web extension are registered when ComfyUI calls comfy_entrypoint();
nothing is loaded, downloaded or imported heavily at import time.
"""

WEB_DIRECTORY = "./web"


async def comfy_entrypoint():
    from .nodes.extension import FrameLoomExtension

    return FrameLoomExtension()


__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
