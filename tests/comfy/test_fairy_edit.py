"""The Fairy-style edit loop end to end, in-process, with tiny random InstructPix2Pix / SD1.5 UNets and a real
comfy.sd.VAE (random weights, 32 channels): batch independence, use of the anchor cache, range splitting, errors,
progress and Cancel, and the node."""
from __future__ import annotations

import importlib
import logging

import pytest
import torch

from tests.comfy.test_fairy_patch import text_conditioning, tiny_unet  # noqa: F401 (fixture)
from tests.support.tiny_sd import tiny_vae  # noqa: F401 (re-exported for other tests)

pytestmark = pytest.mark.comfy

TOL = 1e-6
FRAMES = 24
ANCHORS = (4, 12, 20)  # segment centres of 24 frames, K = 3


@pytest.fixture(scope="module")
def fairy_nodes(frameloom):
    return importlib.import_module("FrameLoom.nodes.fairy")


@pytest.fixture(scope="module")
def kit(comfy_runtime):
    """Models shared by the tests (they are never modified: the edit patches clones)."""
    return {
        "ip2p": tiny_unet(instruct_pix2pix=True, seed=3),
        "sd15": tiny_unet(seed=4),
        "vae": tiny_vae(),
        "positive": text_conditioning(1),
        "negative": text_conditioning(2),
        "frames": torch.rand(FRAMES, 32, 32, 3, generator=torch.Generator().manual_seed(7)),
    }


def edit(fairy_nodes, kit, frames=None, model="ip2p", hooks=None, cache=None, **options):
    settings = dict(steps=3, long_side=0, seed=11, frames_per_batch=FRAMES)
    settings.update(options)
    extra = {k: v for k, v in (("hooks", hooks), ("cache", cache)) if v is not None}
    frames = kit["frames"] if frames is None else frames
    return fairy_nodes.edit_video(
        kit[model], kit["positive"], kit["negative"], kit["vae"], frames, fairy_nodes.FairyEditOptions(**settings), **extra
    )


@pytest.fixture(scope="module")
def reference(fairy_nodes, kit):
    """InstructPix2Pix edit of all 24 frames in one batch (Euler ancestral, text and image guidance)."""
    return edit(fairy_nodes, kit)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def test_output_is_a_float32_cpu_image_of_every_frame(reference):
    assert reference.shape == (FRAMES, 32, 32, 3)
    assert reference.dtype == torch.float32 and reference.device.type == "cpu"
    # Frames differ from each other (a stand-in copied everywhere would pass the batch tests below).
    assert min(max_diff(reference[i], reference[i + 1]) for i in range(FRAMES - 1)) > 1e-3


@pytest.mark.parametrize("frames_per_batch", [1, 5])
def test_result_does_not_depend_on_batching(fairy_nodes, kit, reference, frames_per_batch):
    assert max_diff(edit(fairy_nodes, kit, frames_per_batch=frames_per_batch), reference) <= TOL


def test_frames_see_the_anchors_and_nothing_else(fairy_nodes, kit, reference):
    changed = kit["frames"].clone()
    changed[9] = 1.0 - changed[9]  # a non-anchor frame
    out = edit(fairy_nodes, kit, frames=changed)
    others = [i for i in range(FRAMES) if i != 9]
    assert max_diff(out[others], reference[others]) <= TOL
    assert max_diff(out[9], reference[9]) > 1e-3

    changed = kit["frames"].clone()
    changed[ANCHORS[1]] = 1.0 - changed[ANCHORS[1]]
    out = edit(fairy_nodes, kit, frames=changed)
    # Every frame attends to the anchors' cached K/V, so an anchor's source reaches all of them.
    assert min(max_diff(out[i], reference[i]) for i in range(FRAMES)) > 1e-5


@pytest.mark.parametrize("image_cfg, branches", [(1.5, 3), (1.0, 2)])
def test_instruct_pix2pix_uses_text_and_image_guidance(fairy_nodes, kit, image_cfg, branches):
    # DualCFGGuider evaluates (text+image, image, neither); image_cfg 1 makes the unconditional one unnecessary.
    cache = importlib.import_module("FrameLoom.modules.fairy").AnchorCache()
    edit(fairy_nodes, kit, frames=kit["frames"][:3], steps=2, image_cfg=image_cfg, cache=cache)
    layers = len(fairy_nodes.patch.self_attention_layers(kit["ip2p"].model.diffusion_model))
    assert len(cache) == layers * 2 * branches


def test_ranges_edited_apart_join_into_the_single_run(fairy_nodes, kit):
    settings = dict(model="sd15", denoise=0.7, sampler_name="dpmpp_2s_ancestral", text_cfg=4.0)
    whole = edit(fairy_nodes, kit, **settings)
    # Three workers; the middle range holds no anchor, yet repeats the anchor pass to fill its cache.
    parts = [
        edit(fairy_nodes, kit, start_frame=start, end_frame=end, frames_per_batch=batch, **settings)
        for start, end, batch in ((0, 13, 4), (13, 20, 6), (20, 0, 24))
    ]
    assert [p.shape[0] for p in parts] == [13, 7, 4]
    assert max_diff(torch.cat(parts), whole) <= TOL


def test_sizes_are_snapped_to_multiples_of_8_and_logged(fairy_nodes, kit, caplog):
    assert fairy_nodes.frames.working_size(384, 640, 512) == (304, 512)
    assert fairy_nodes.frames.working_size(20, 36, 0) == (24, 40)
    frames = torch.rand(3, 20, 36, 3, generator=torch.Generator().manual_seed(0))
    with caplog.at_level(logging.INFO, logger="FrameLoom.fairy"):
        out = edit(fairy_nodes, kit, frames=frames, steps=1)
    assert out.shape == (3, 24, 40, 3)
    assert "not multiples of 8" in caplog.text


def test_bad_input_is_explained(fairy_nodes, kit):
    with pytest.raises(ValueError, match="3 anchor frames needs at least 3 frames, but the video has 2"):
        edit(fairy_nodes, kit, frames=kit["frames"][:2])
    with pytest.raises(ValueError, match=r"frame range \[20, 30\) is not inside the video's 24 frames"):
        edit(fairy_nodes, kit, start_frame=20, end_frame=30)
    with pytest.raises(ValueError, match="expected an IMAGE batch"):
        edit(fairy_nodes, kit, frames=kit["frames"][0])
    with pytest.raises(ValueError, match="unknown sampler 'euler_a'"):
        fairy_nodes.FairyEditOptions(sampler_name="euler_a")
    with pytest.raises(ValueError, match="positive must be a CONDITIONING"):
        fairy_nodes.edit_video(kit["ip2p"], [], kit["negative"], kit["vae"], kit["frames"])


def test_progress_covers_all_frames_and_steps(fairy_nodes, kit):
    from FrameLoom.modules.common import LoopHooks

    seen = []
    edit(fairy_nodes, kit, frames=kit["frames"][:8], frames_per_batch=2, hooks=LoopHooks(progress=lambda d, t: seen.append((d, t))))
    total = 8 * 3
    assert seen[-1] == (total, total)
    assert all(t == total for _, t in seen) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_cancel_from_the_progress_path_stops_the_edit(fairy_nodes, kit, comfy_runtime):
    from FrameLoom.modules.common import LoopHooks

    mm = comfy_runtime
    seen = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= 3 * 3:  # the anchor pass is complete: press Cancel
            mm.interrupt_current_processing(True)

    hooks = LoopHooks(progress=progress, check_cancel=mm.throw_exception_if_processing_interrupted)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            edit(fairy_nodes, kit, frames=kit["frames"][:8], frames_per_batch=2, hooks=hooks)
    finally:
        mm.interrupt_current_processing(False)
    assert max(seen) == 3 * 3  # no frame batch ran after Cancel


def test_node_schema_and_execution(fairy_nodes, kit):
    node = fairy_nodes.node.FrameLoomFairyEdit
    schema = node.define_schema()
    assert schema.node_id == "FrameLoomFairyEdit" and schema.category == "FrameLoom/editing"
    assert schema.display_name == "Fairy-style Edit (FrameLoom)"
    assert "Fairy-style" in schema.description and "released no code or weights" in schema.description
    assert all(i.tooltip for i in schema.inputs)

    out = node.execute(
        kit["ip2p"], kit["positive"], kit["negative"], kit["vae"], kit["frames"][:4], anchors=3,
        anchor_rule="segment_centers", frames_per_batch=8, steps=1, sampler_name="euler", scheduler="normal",
        text_cfg=7.5, image_cfg=1.5, seed=0, denoise=1.0, long_side=16,
    )  # fmt: skip
    assert out.result[0].shape == (4, 16, 16, 3) and out.result[0].dtype == torch.float32
