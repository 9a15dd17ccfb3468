"""FlowVid-style Propagate in-process with tiny random models: the per-pixel strength gate, frame counts, the kept
edited frame, determinism, Cancel, chained batches and every bad input the issue names."""
from __future__ import annotations

import pytest
import torch

from tests.support.tiny_sd import tiny_vae
from tests.support.freenoise_models import fancyvideo_weights, sd15_model, text_conditioning, tiny_clip
from tests.support.tiny_models import random_state

pytestmark = pytest.mark.comfy

FRAMES, SIZE = 9, 32  # keyframes 0, 4, 8 at interval 4


@pytest.fixture(scope="module")
def kit(frameloom, comfy_runtime, vectors_dir):
    from FrameLoom.modules.flow import synthetic_clip
    from FrameLoom.nodes.fancyvideo import apply_fancyvideo

    clip = tiny_clip()
    video = synthetic_clip(num_frames=FRAMES, height=SIZE, width=SIZE, velocity=(1.0, 0.5)).frames
    video = video.permute(0, 2, 3, 1).contiguous().float()
    base = sd15_model(comfy_runtime)
    return {
        "base": base,
        "model": apply_fancyvideo(base, fancyvideo_weights(vectors_dir)),
        "vae": tiny_vae(),
        "positive": text_conditioning(clip, "a watercolour painting"),
        "negative": text_conditioning(clip, ""),
        "video": video,
        "edited": 1.0 - video[:1],  # an "edit": the inverted first frame
    }


@pytest.fixture(scope="module")
def rife(frameloom):
    from FrameLoom.modules.rife import expected_layout, load_ifnet
    from FrameLoom.nodes.patcher import wrap_module
    from FrameLoom.nodes.rife import RifeModel

    net = load_ifnet(random_state(expected_layout("4.25"), seed=0))
    return RifeModel(wrap_module(net), net.version, torch.float32, "rife425.pth")


def settings(**options):
    from FrameLoom.nodes.flow.flowvid_run import PropagateSettings

    values = dict(steps=2, keyframes_per_batch=2, sampler_name="euler", scheduler="normal", seed=5)
    values.update(options)
    return PropagateSettings(**values)


def keyframes(kit, video=None, edited=None, flow=None, **options):
    from FrameLoom.nodes.flow.flowvid_run import propagate_keyframes

    video = kit["video"] if video is None else video
    edited = kit["edited"] if edited is None else edited
    return propagate_keyframes(kit["model"], kit["positive"], kit["negative"], kit["vae"], video, edited,
                               settings(**options), flow)


@pytest.fixture(scope="module")
def reference(kit):
    return keyframes(kit)


def _sample_gated(kit, latent, occlusion, strength, seed=3):
    import comfy.sample

    from FrameLoom.modules.flowvid import strength_mask
    from FrameLoom.nodes.fancyvideo.conditioning import fancyvideo_image_conditioning
    from FrameLoom.nodes.flow.flowvid_run import gated_model

    model = kit["model"]
    n = latent.shape[0]
    positive = fancyvideo_image_conditioning(kit["positive"], model, latent[:1], n)
    negative = fancyvideo_image_conditioning(kit["negative"], model, latent[:1], n)
    return comfy.sample.sample(
        gated_model(model), comfy.sample.prepare_noise(latent, seed), 4, 5.0, "euler", "normal", positive, negative,
        latent, noise_mask=strength_mask(occlusion, strength), disable_pbar=True, seed=seed,
    )


def test_strength_gate_keeps_visible_pixels_at_zero_and_regenerates_occluded(kit):
    latent = torch.randn(3, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    occlusion = torch.zeros(3, 1, 4, 4)
    occlusion[1:, :, :2] = 1.0  # top half of frames 1 and 2 occluded
    out = _sample_gated(kit, latent, occlusion, strength=0.0)
    visible = (occlusion == 0).expand_as(latent)
    # strength 0 and the reference frame are kept (up to the latent format's x0.18215 in and out)
    assert (out[visible] - latent[visible]).abs().max() < 1e-6
    assert (out[~visible] - latent[~visible]).abs().min() > 1e-4

    partly = _sample_gated(kit, latent, occlusion, strength=0.6)
    assert (partly[0] - latent[0]).abs().max() < 1e-6  # the reference frame is never denoised
    assert (partly[1:][visible[1:]] - latent[1:][visible[1:]]).abs().max() > 1e-3  # SDEdit refines visible pixels
    full = _sample_gated(kit, latent, occlusion, strength=1.0)
    assert (partly[1:] - full[1:]).abs().max() > 1e-3  # strength changes the result


def test_keyframes_start_with_the_edit_exactly_and_are_deterministic(kit, reference):
    assert reference.shape == (3, SIZE, SIZE, 3) and reference.dtype == torch.float32
    assert torch.equal(reference[0], kit["edited"][0])
    assert torch.isfinite(reference).all() and reference.min() >= 0 and reference.max() <= 1
    assert torch.equal(keyframes(kit), reference)
    assert (keyframes(kit, seed=6)[1:] - reference[1:]).abs().max() > 1e-3


def test_color_calibration_matches_the_edited_frame_statistics(kit, reference):
    edited = kit["edited"][0]
    for frame in reference[1:]:
        # Eq. 5 gives the edited frame's per-channel mean exactly; clamping to 0..1 may move it a little.
        assert (frame.mean(dim=(0, 1)) - edited.mean(dim=(0, 1))).abs().max() < 0.05
    raw = keyframes(kit, calibrate_colors=False)
    assert (raw[1:] - reference[1:]).abs().max() > 1e-3


def test_later_batches_start_from_the_previous_last_keyframe(kit, reference):
    one_batch = keyframes(kit, keyframes_per_batch=3)
    assert one_batch.shape == reference.shape
    assert torch.equal(one_batch[0], reference[0])
    # Batch 1 (keyframes 0, 4) is the same run either way only when it holds the same keyframes; here it does not.
    assert (one_batch[2] - reference[2]).abs().max() > 1e-4


def test_given_flow_is_used_for_the_first_batch(kit, reference):
    from FrameLoom.modules.flow import VideoFlow

    zero = torch.zeros(FRAMES, 2, SIZE, SIZE)
    out = keyframes(kit, flow=VideoFlow(zero, zero.clone(), 0, "test"))
    assert (out[1] - reference[1]).abs().max() > 1e-3  # no motion: the edit is not warped like DIS would


def test_node_outputs_every_source_frame_with_rife(frameloom, kit, rife):
    from FrameLoom.nodes.flow import NODES, FrameLoomFlowVidEdit

    assert FrameLoomFlowVidEdit in NODES
    schema = FrameLoomFlowVidEdit.define_schema()
    assert schema.display_name == "FlowVid-style Propagate (FrameLoom)" and "FlowVid-style" in schema.description
    assert all(i.tooltip for i in schema.inputs)
    args = (kit["model"], kit["positive"], kit["negative"], kit["vae"], kit["video"], kit["edited"], 0.75, 4, 2, 5,
            2, 7.5, "euler", "normal", True, 0.4)
    images, keys = FrameLoomFlowVidEdit.execute(*args, rife_model=rife).result
    assert images.shape == (FRAMES, SIZE, SIZE, 3) and keys.shape == (3, SIZE, SIZE, 3)
    assert torch.equal(images[[0, 4, 8]], keys)
    assert torch.equal(keys, keyframes(kit, keyframes_per_batch=2, strength=0.75, seed=5, cfg=7.5))
    assert (images[2] - images[0]).abs().max() > 1e-4 and (images[2] - images[4]).abs().max() > 1e-4
    only_keys, _ = FrameLoomFlowVidEdit.execute(*args).result
    assert torch.equal(only_keys, keys)


def test_cancel_stops_between_sampling_steps(kit):
    import comfy.model_management as mm
    import comfy.utils

    seen = []

    def hook(value, total, preview, node_id=None):
        seen.append(value)
        if value == 1:
            mm.interrupt_current_processing(True)

    previous = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(hook)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            keyframes(kit)
    finally:
        mm.interrupt_current_processing(False)
        comfy.utils.set_progress_bar_global_hook(previous)
    assert seen == [1]  # the second step of four never reported


def test_bad_inputs_are_refused_with_what_to_do(kit):
    from FrameLoom.modules.flow import VideoFlow
    from FrameLoom.modules.flowvid import SceneCutError

    with pytest.raises(ValueError, match=r"edited first frame is 24x32 but the video is 32x32"):
        keyframes(kit, edited=kit["edited"][:, :, :24])
    with pytest.raises(ValueError, match="needs at least 2 frames"):
        keyframes(kit, video=kit["video"][:1])
    cut = kit["video"].clone()
    cut[5:] = torch.rand(FRAMES - 5, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(0)) * 0.2 + 0.8
    with pytest.raises(SceneCutError, match="split the video at frame 5"):
        keyframes(kit, video=cut)
    with pytest.raises(ValueError, match="FancyVideo Apply"):
        from FrameLoom.nodes.flow.flowvid_run import propagate_keyframes

        propagate_keyframes(kit["base"], kit["positive"], kit["negative"], kit["vae"], kit["video"], kit["edited"],
                            settings())
    short = torch.zeros(4, 2, SIZE, SIZE)
    with pytest.raises(ValueError, match="the video has 9 frames of 32x32, the flow 4 frames"):
        keyframes(kit, flow=VideoFlow(short, short.clone()))
    with pytest.raises(ValueError, match="keyframes_per_batch must be 2..32"):
        settings(keyframes_per_batch=40)


def test_raft_without_weights_says_where_to_put_them(frameloom, kit):
    from FrameLoom.modules.common import CheckpointError
    from FrameLoom.nodes.flow import FrameLoomOpticalFlow

    with pytest.raises(CheckpointError, match=r"put raft-things\.pth .* into ComfyUI's models/frameloom/flow/ folder"):
        FrameLoomOpticalFlow.execute(kit["video"], "raft", 0, "none")


@pytest.fixture(scope="module")
def control_net(kit):
    """A ComfyUI ControlNet shaped like the tiny UNet (seeded random weights, so its zero convs are not zero)."""
    import comfy.cldm.cldm
    import comfy.controlnet
    import comfy.model_management as mm
    import comfy.ops

    config = dict(kit["base"].model.model_config.unet_config)
    config.pop("out_channels")
    config.update(hint_channels=3, operations=comfy.ops.disable_weight_init, device="cpu", dtype=torch.float32)
    net = comfy.cldm.cldm.ControlNet(**config)
    generator = torch.Generator().manual_seed(9)
    with torch.no_grad():
        for param in net.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.1)
    return comfy.controlnet.ControlNet(net, load_device=mm.get_torch_device())


def test_controlnet_sees_only_the_keyframes_hint_rows(kit, reference, control_net):
    from FrameLoom.modules.flowvid import canny_hint
    from FrameLoom.nodes.flow.flowvid_run import SpatialControl, propagate_keyframes

    def run(hint, strength=1.0):
        control = SpatialControl(control_net, hint, strength)
        return propagate_keyframes(kit["model"], kit["positive"], kit["negative"], kit["vae"], kit["video"],
                                   kit["edited"], settings(), None, control)

    hint = canny_hint(kit["video"])
    controlled = run(hint)
    assert torch.equal(controlled[0], reference[0])
    assert (controlled[1:] - reference[1:]).abs().max() > 1e-3
    assert torch.equal(run(hint, strength=0.0), reference)
    other = hint.clone()
    other[2] = 1.0 - other[2]  # frame 2 is no keyframe
    assert torch.equal(run(other), controlled)
    other[4] = 1.0 - other[4]  # keyframe 1
    assert (run(other)[1] - controlled[1]).abs().max() > 1e-4
    with pytest.raises(ValueError, match=r"one image per source frame \(9\)"):
        run(hint[:4])


def test_node_needs_both_control_inputs(kit, control_net):
    from FrameLoom.nodes.flow import FrameLoomFlowVidEdit

    args = (kit["model"], kit["positive"], kit["negative"], kit["vae"], kit["video"], kit["edited"], 0.75, 4, 2, 5,
            2, 7.5, "euler", "normal", True, 0.4)
    with pytest.raises(ValueError, match="connect 'hint' too"):
        FrameLoomFlowVidEdit.execute(*args, control_net=control_net)


def test_canny_hint_node(frameloom, kit):
    from FrameLoom.nodes.flow import FrameLoomCannyHint

    schema = FrameLoomCannyHint.define_schema()
    assert schema.description and all(i.tooltip for i in schema.inputs)
    hint = FrameLoomCannyHint.execute(kit["video"], 0.1, 0.2).result[0]
    assert hint.shape == (FRAMES, SIZE, SIZE, 3) and set(hint.unique().tolist()) <= {0.0, 1.0}
    assert hint.sum() > 0
