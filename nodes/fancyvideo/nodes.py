"""FancyVideo's node classes, in menu order."""
from __future__ import annotations

from comfy_api.latest import io

from .node_apply import FrameLoomFancyVideoApply, FrameLoomFancyVideoImageToVideo
from .node_cvvae import FrameLoomCVVAEDecode, FrameLoomCVVAEEncode
from .node_loaders import FrameLoomCVVAELoader, FrameLoomFancyVideoLoader
from .node_resadapter import FrameLoomResAdapterApply
from .node_sampler import FrameLoomFancyVideoSampler
from .node_video import FrameLoomFancyVideoVideoToVideo

NODES: list[type[io.ComfyNode]] = [
    FrameLoomFancyVideoLoader,
    FrameLoomFancyVideoSampler,
    FrameLoomFancyVideoApply,
    FrameLoomFancyVideoImageToVideo,
    FrameLoomFancyVideoVideoToVideo,
    FrameLoomResAdapterApply,
    FrameLoomCVVAELoader,
    FrameLoomCVVAEEncode,
    FrameLoomCVVAEDecode,
]
