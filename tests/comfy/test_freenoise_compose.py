"""The whole chain with ComfyUI's own nodes: SD1.5 + FancyVideo -> FreeNoise node -> stock KSampler, positive from the
prompt-schedule node (motion injection on), negative from CLIP Text Encode."""
from __future__ import annotations

import pytest
import torch

from tests.support import freenoise_models as tiny

pytestmark = pytest.mark.comfy


@pytest.fixture(scope="module")
def stock_nodes(comfy_runtime):
    """ComfyUI's own nodes.py (KSampler, CLIPTextEncode). Loaded by path: the name 'nodes' is this repository's
    package on sys.path."""
    import importlib.util
    import sys

    from tests.support.runtime import COMFYUI_DIR

    name = "comfyui_stock_nodes"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, COMFYUI_DIR / "nodes.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def graph(frameloom, comfy_runtime, vectors_dir, stock_nodes):
    from FrameLoom.nodes.freenoise import NODES

    by_id = {n.define_schema().node_id: n for n in NODES}
    clip = tiny.tiny_clip()
    fancy = tiny.fancyvideo_model(comfy_runtime, vectors_dir)
    return by_id, clip, fancy


def run_graph(graph, stock_nodes, frames: int, freenoise: bool = True, record: list | None = None):
    from FrameLoom.nodes.fancyvideo import ATTEND_OPTION

    nodes_by_id, clip, model = graph
    if freenoise:
        model = nodes_by_id["FrameLoomFreeNoise"].execute(model, 16, 4, "pyramid", "official_shuffle", -1).result[0]
    if record is not None:
        installed = model.model_options["transformer_options"][ATTEND_OPTION]

        def recording(block, x):
            record.append(tuple(x.shape))
            return installed(block, x)

        model = model.clone()
        model.model_options["transformer_options"][ATTEND_OPTION] = recording
    text = f'"0": "a camel walking in the desert",\n"{frames - 1}": "a camel standing at sunset"'
    positive = nodes_by_id["FrameLoomPromptSchedule"].execute(clip, text, frames, True).result[0]
    (negative,) = stock_nodes.CLIPTextEncode().encode(clip, "blurry")
    latent = {"samples": torch.zeros(frames, 4, 8, 8)}
    (out,) = stock_nodes.KSampler().sample(model, 42, 3, 6.0, "euler", "normal", positive, negative, latent)
    return out["samples"]


def test_a_24_frame_video_with_the_stock_ksampler(graph, stock_nodes):
    shapes = []
    with_freenoise = run_graph(graph, stock_nodes, 24, record=shapes)
    assert with_freenoise.shape == (24, 4, 8, 8) and torch.isfinite(with_freenoise).all()
    assert shapes and {s[1] for s in shapes} == {24}  # the motion modules ran through the FreeNoise hook
    plain = run_graph(graph, stock_nodes, 24, freenoise=False)
    assert (with_freenoise - plain).abs().max().item() > 1e-3  # windows and shuffled noise change the video


def test_longer_than_the_motion_modules_positional_table(graph, stock_nodes):
    out = run_graph(graph, stock_nodes, 40)
    assert out.shape == (40, 4, 8, 8) and torch.isfinite(out).all()
