"""Optical-flow nodes (DIS / RAFT-large -> FLOW, a FLOW preview) and FlowVid-style propagation built on them."""
from .canny import NODES as CANNY_NODES
from .canny import FrameLoomCannyHint
from .node import NODES as FLOW_NODES
from .node import FlowType, FrameLoomFlowPreview, FrameLoomOpticalFlow
from .propagate import NODES as PROPAGATE_NODES
from .propagate import FrameLoomFlowVidEdit

NODES = [*FLOW_NODES, *PROPAGATE_NODES, *CANNY_NODES]

__all__ = [
    "NODES",
    "FlowType",
    "FrameLoomCannyHint",
    "FrameLoomFlowPreview",
    "FrameLoomFlowVidEdit",
    "FrameLoomOpticalFlow",
]
