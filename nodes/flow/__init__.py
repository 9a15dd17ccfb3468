"""Optical-flow nodes (DIS / RAFT-large -> FLOW, and a FLOW preview) for FlowVid-style editing."""
from .node import NODES, FlowType, FrameLoomFlowPreview, FrameLoomOpticalFlow

__all__ = ["NODES", "FlowType", "FrameLoomFlowPreview", "FrameLoomOpticalFlow"]
