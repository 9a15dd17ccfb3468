"""The ComfyExtension that ComfyUI asks for FrameLoom's nodes."""
from __future__ import annotations

import logging

from comfy_api.latest import ComfyExtension, io

from .paths import register_model_folders

logger = logging.getLogger("FrameLoom")


class FrameLoomExtension(ComfyExtension):
    async def on_load(self) -> None:
        register_model_folders()

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        register_model_folders()  # before any schema lists model files
        from .fairy import NODES as fairy_nodes
        from .fancyvideo import NODES as fancyvideo_nodes
        from .flow import NODES as flow_nodes
        from .freenoise import NODES as freenoise_nodes
        from .rife import NODES as rife_nodes
        from .streamingt2v import NODES as st2v_nodes

        return [*rife_nodes, *fairy_nodes, *freenoise_nodes, *fancyvideo_nodes, *st2v_nodes, *flow_nodes]
