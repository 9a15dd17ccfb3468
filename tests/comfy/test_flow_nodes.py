"""The optical-flow nodes inside an in-process ComfyUI: schema, DIS and RAFT runs, progress, Cancel, preview."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

# DIS translation EPE bound, justified in tests/modules/test_flow_dis.py.
TRANSLATION_EPE = 0.25


@pytest.fixture()
def flow_folder(frameloom, tmp_path, monkeypatch):
    import folder_paths

    from FrameLoom.nodes.paths import register_model_folders

    register_model_folders()
    monkeypatch.setitem(folder_paths.folder_names_and_paths, "frameloom_flow",
                        ([str(tmp_path)], set(folder_paths.supported_pt_extensions)))
    return tmp_path


@pytest.fixture(scope="module")
def clip():
    from FrameLoom.modules.flow import synthetic_clip

    return synthetic_clip(num_frames=4, height=64, width=72, velocity=(1.0, -0.5))


def _image(clip) -> torch.Tensor:
    return clip.frames.permute(0, 2, 3, 1).contiguous()  # ComfyUI IMAGE [N, H, W, 3]


def test_schemas_describe_every_input(flow_folder):
    from FrameLoom.nodes.flow import NODES

    assert [n.__name__ for n in NODES] == [
        "FrameLoomOpticalFlow", "FrameLoomFlowPreview", "FrameLoomFlowVidEdit", "FrameLoomCannyHint",
    ]
    for node in NODES:
        info = node.GET_NODE_INFO_V1()
        assert info["category"] == "FrameLoom/flow" and info["description"]
        inputs = {**info["input"].get("required", {}), **info["input"].get("optional", {})}
        for name, spec in inputs.items():
            assert spec[1].get("tooltip"), f"{node.__name__}.{name} has no tooltip"
    info = NODES[0].GET_NODE_INFO_V1()
    assert info["output"] == ["FRAMELOOM_FLOW"] and NODES[1].GET_NODE_INFO_V1()["input"]["required"]["flow"][0] == "FRAMELOOM_FLOW"
    assert info["input"]["required"]["method"][1]["default"] == "dis_medium"


def test_dis_node_gives_flow_against_frame_zero(flow_folder, clip):
    import comfy.utils

    from FrameLoom.modules.flow import VideoFlow, end_point_error
    from FrameLoom.nodes.flow import FrameLoomOpticalFlow

    seen: list[tuple[int, int]] = []
    previous = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: seen.append((value, total)))
    try:
        flow = FrameLoomOpticalFlow.execute(_image(clip), "dis_medium", 0).result[0]
    finally:
        comfy.utils.set_progress_bar_global_hook(previous)
    assert isinstance(flow, VideoFlow) and flow.method == "dis_medium" and flow.reference_index == 0
    assert flow.size == (64, 72) and flow.num_frames == 4
    assert flow.forward.dtype == torch.float32 and flow.forward.device.type == "cpu"
    assert end_point_error(flow.forward[1:], clip.flow_fwd[1:], clip.valid_fwd[1:]) < TRANSLATION_EPE
    assert end_point_error(flow.backward[1:], clip.flow_bwd[1:], clip.valid_bwd[1:]) < TRANSLATION_EPE
    assert seen[-1] == (4, 4)


def test_cancel_interrupts_the_loop(flow_folder, clip):
    import comfy.model_management as mm

    from FrameLoom.nodes.flow import FrameLoomOpticalFlow

    mm.interrupt_current_processing(True)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            FrameLoomOpticalFlow.execute(_image(clip), "dis_fast", 0)
    finally:
        mm.interrupt_current_processing(False)


def test_raft_without_a_file_says_where_to_put_one(flow_folder, clip):
    from FrameLoom.modules.common import CheckpointError
    from FrameLoom.nodes.flow import FrameLoomOpticalFlow

    with pytest.raises(CheckpointError, match="models/frameloom/flow"):
        FrameLoomOpticalFlow.execute(_image(clip), "raft", 0, "none")


def test_raft_node_with_official_layout_file(flow_folder, clip):
    from FrameLoom.modules.flow import random_official_state
    from FrameLoom.nodes.flow import FrameLoomOpticalFlow, node

    state = {f"module.{k}": v.clone() for k, v in random_official_state("princeton").items()}  # norm3 aliases: copies
    save_file(state, str(flow_folder / "raft-things.safetensors"))
    assert "raft-things.safetensors" in node._model_choices()
    flow = FrameLoomOpticalFlow.execute(_image(clip), "raft", 1, "raft-things.safetensors", 2).result[0]
    assert flow.method == "raft" and flow.reference_index == 1 and flow.size == (64, 72)
    assert not flow.forward[1].any() and torch.isfinite(flow.backward).all() and flow.backward[0].abs().max() > 0


def test_preview_colours_the_flow(flow_folder, clip):
    from FrameLoom.modules.flow import VideoFlow
    from FrameLoom.nodes.flow import FrameLoomFlowPreview

    flow = VideoFlow(clip.flow_fwd, clip.flow_bwd, 0, "truth")
    images = FrameLoomFlowPreview.execute(flow, "backward", 0.0).result[0]
    assert images.shape == (4, 64, 72, 3) and images.dtype == torch.float32
    assert torch.equal(images[0], torch.ones(64, 72, 3))  # the reference frame does not move: white
    assert (images[1:] < 1).any(dim=-1).all()  # every other pixel moves: coloured
    with pytest.raises(ValueError, match="Optical Flow"):
        FrameLoomFlowPreview.execute(torch.zeros(1), "backward", 0.0)
