"""The prompt-schedule node with a real (tiny) ComfyUI CLIP: per-frame blends, errors, how the rows reach the UNet,
and FreeNoise motion injection (the attn2 patch on its own and inside a stock sampling run)."""
from __future__ import annotations

import pytest
import torch

from tests.support import freenoise_models as tiny

pytestmark = pytest.mark.comfy
TOL = 1e-6


@pytest.fixture(scope="module")
def clip(frameloom, comfy_runtime):
    return tiny.tiny_clip()


@pytest.fixture(scope="module")
def node(frameloom):
    from FrameLoom.nodes.freenoise.schedule_node import FrameLoomPromptSchedule

    return FrameLoomPromptSchedule


def encode(clip, text: str) -> tuple[torch.Tensor, torch.Tensor]:
    cond, pooled = clip.encode_from_tokens(clip.tokenize(text), return_pooled=True)
    return cond[0], pooled[0]


def schedule(node, clip, text: str, frames: int, injection: bool = False) -> list:
    return node.execute(clip, text, frames, injection).result[0]


def test_frames_blend_linearly_between_keyframes(node, clip):
    out = schedule(node, clip, '"0": "a camel walking",\n"10": "a horse running",\n"20": "a dog sitting"', 24)
    assert len(out) == 1
    cond, options = out[0]
    (a, pa), (b, pb), (c, pc) = (encode(clip, t) for t in ("a camel walking", "a horse running", "a dog sitting"))
    assert cond.shape == (24, 77, 32) and options["pooled_output"].shape == (24, 32)
    for frame in range(24):
        if frame < 10:
            w, (x, y), (px, py) = frame / 10, (a, b), (pa, pb)
        elif frame < 20:
            w, (x, y), (px, py) = (frame - 10) / 10, (b, c), (pb, pc)
        else:
            w, (x, y), (px, py) = 0.0, (c, c), (pc, pc)
        assert (cond[frame] - ((1 - w) * x + w * y)).abs().max().item() <= TOL, frame
        assert (options["pooled_output"][frame] - ((1 - w) * px + w * py)).abs().max().item() <= TOL, frame
    assert (a - b).abs().max().item() > 1e-3  # the prompts really differ
    assert options["frameloom_prompt_frames"] == 24 and "hooks" not in options


def test_each_distinct_prompt_is_encoded_once(node, clip, monkeypatch):
    seen = []
    original = clip.encode_from_tokens

    def counting(tokens, *args, **kwargs):
        seen.append(tokens)
        return original(tokens, *args, **kwargs)

    monkeypatch.setattr(clip, "encode_from_tokens", counting)
    schedule(node, clip, '"0": "a camel", "8": "a horse", "16": "a camel"', 24)
    assert len(seen) == 2


def test_paper_two_prompt_layout(frameloom, node, clip):
    # Keys at 3F/8 and F - 3F/8 - 1 give exactly the official cond1 (hold, linear ramp, hold).
    from FrameLoom.modules.freenoise import two_prompt_conditioning

    frames = 64
    hold = frames * 3 // 8
    cond = schedule(node, clip, f'"{hold}": "a camel", "{frames - hold - 1}": "a horse"', frames)[0][0]
    expected = two_prompt_conditioning(encode(clip, "a camel")[0], encode(clip, "a horse")[0], frames)
    assert (cond - expected).abs().max().item() <= TOL


def test_prompts_longer_than_one_chunk_are_repeated_to_a_common_length(node, clip):
    long_prompt = ", ".join(["a very detailed camel walking slowly through golden desert dunes"] * 9)
    cond = schedule(node, clip, f'"0": "a camel", "8": "{long_prompt}"', 9)[0][0]
    short, long = encode(clip, "a camel")[0], encode(clip, long_prompt)[0]
    assert long.shape[0] > 77 and cond.shape[1] == long.shape[0]
    assert (cond[0] - short.repeat(long.shape[0] // 77, 1)).abs().max().item() <= TOL
    assert (cond[8] - long).abs().max().item() <= TOL


def test_errors_point_at_the_text(frameloom, node, clip):
    from FrameLoom.modules.freenoise import PromptScheduleError

    with pytest.raises(PromptScheduleError, match=r'line 2, column 5: expected ":" after frame number 8') as error:
        schedule(node, clip, '"0": "a camel",\n"8" "a horse"', 24)
    assert error.value.position == (2, 5)
    with pytest.raises(PromptScheduleError, match="line 1, column 17: frame 30 is past the end"):
        schedule(node, clip, '"0": "a camel", "30": "a horse"', 24)
    with pytest.raises(ValueError, match="needs a CLIP"):
        schedule(node, None, '"0": "a camel"', 24)


def _capture_contexts(model, records):
    """attn2 patch on the MODEL that records what each cross-attention receives (after the hook's patch ran)."""
    def record(n, context, value, extra_options):
        records.append((extra_options["block"][0], float(extra_options["sigmas"].flatten()[0]),
                        list(extra_options["cond_or_uncond"]), context.detach().clone()))
        return n, context, value

    model = model.clone()
    model.set_model_attn2_patch(record)
    return model


def test_each_latent_frame_sees_its_own_row(frameloom, comfy_runtime, vectors_dir, node, clip):
    import comfy.sample

    positive = schedule(node, clip, '"0": "a camel", "11": "a horse"', 12)
    negative = tiny.text_conditioning(clip, "blurry")
    records = []
    model = _capture_contexts(tiny.fancyvideo_model(comfy_runtime, vectors_dir), records)
    latent = torch.zeros(12, 4, 8, 8)
    comfy.sample.sample(model, torch.randn(12, 4, 8, 8), 1, 2.0, "euler", "normal", positive, negative, latent, seed=0)
    assert records
    for _, _, branches, context in records:
        for branch, rows in zip(branches, context.chunk(len(branches))):
            expected = positive[0][0] if branch == 0 else negative[0][0].expand(12, -1, -1)
            assert (rows - expected).abs().max().item() <= TOL


def test_injection_patch_follows_the_plan(frameloom):
    from FrameLoom.modules.freenoise import motion_injection_plan
    from FrameLoom.nodes.freenoise.injection import MotionInjectionPatch

    frames, steps = 4, 20
    target = torch.randn(1, 77, 32)
    per_frame = torch.randn(frames, 77, 32)
    negative = torch.randn(frames, 77, 32)
    sample_sigmas = torch.linspace(14.6, 0.0, steps + 1)
    patch = MotionInjectionPatch(target)
    plan = motion_injection_plan(steps)
    for step in (0, 2, 6, 7, 19):
        for block in ("input", "middle", "output"):
            context = torch.cat([negative, per_frame])
            extra = {"block": (block, 1), "sigmas": sample_sigmas[step].expand(2 * frames),
                     "sample_sigmas": sample_sigmas, "cond_or_uncond": [1, 0]}
            _, out, value = patch(None, context, context, extra)
            injected = getattr(plan[step], block) == "target"
            assert injected == (block != "output" and not 2 <= step <= 6)
            assert torch.equal(out[:frames], negative)  # the negative branch never changes
            assert torch.equal(out[frames:], target.expand(frames, -1, -1) if injected else per_frame)
            assert value is out


def test_motion_injection_in_a_stock_sampling_run(frameloom, comfy_runtime, vectors_dir, node, clip):
    import comfy.sample
    import comfy.samplers

    from FrameLoom.modules.freenoise import motion_injection_plan
    from FrameLoom.modules.freenoise.steps import step_index

    frames, steps = 8, 10
    positive = schedule(node, clip, '"0": "a camel walking", "7": "a horse running"', frames, injection=True)
    assert "hooks" in positive[0][1]
    negative = tiny.text_conditioning(clip, "blurry")
    target = encode(clip, "a horse running")[0]
    records = []
    model = _capture_contexts(tiny.fancyvideo_model(comfy_runtime, vectors_dir), records)
    sampler = comfy.samplers.KSampler(model, steps, model.load_device, "euler", "normal")
    latent = torch.zeros(frames, 4, 8, 8)
    noise = torch.randn(frames, 4, 8, 8)
    comfy.sample.sample(model, noise, steps, 2.0, "euler", "normal", positive, negative, latent, seed=0)
    plan = motion_injection_plan(steps)
    seen = set()
    for block, sigma, branches, context in records:
        step = step_index(sigma, sampler.sigmas.tolist())
        assert branches in ([0], [1])  # the hooked positive runs apart from the negative
        if branches == [1]:
            assert (context - negative[0][0]).abs().max().item() <= TOL
            continue
        injected = getattr(plan[step], block) == "target"
        expected = target.expand(frames, -1, -1) if injected else positive[0][0]
        assert (context - expected).abs().max().item() <= TOL, (block, step)
        seen.add((block, injected))
    assert {("input", True), ("input", False), ("output", False)} <= seen


def test_step_of_a_sigma_and_common_token_counts(frameloom):
    from FrameLoom.modules.freenoise.embeddings import repeat_to_common_tokens
    from FrameLoom.modules.freenoise.steps import step_index

    schedule = [10.0, 5.0, 2.0, 0.0]
    # On a schedule point: that step; between points (DPM-2 midpoints): the step containing it; beyond: clamped.
    assert [step_index(s, schedule) for s in (12.0, 10.0, 7.0, 5.0, 3.0, 2.0, 0.5, 0.0)] == [0, 0, 0, 1, 1, 2, 2, 2]
    assert step_index(5.0 * (1 - 1e-6), schedule) == 1  # a sigma that lost precision in a cast
    with pytest.raises(ValueError, match="at least 2 entries"):
        step_index(1.0, [1.0])
    a, b = torch.randn(1, 2, 3), torch.randn(1, 3, 3)
    ra, rb = repeat_to_common_tokens([a, b])
    assert ra.shape == rb.shape == (1, 6, 3) and torch.equal(ra, a.repeat(1, 3, 1)) and torch.equal(rb, b.repeat(1, 2, 1))
    with pytest.raises(ValueError, match="same number of dimensions"):
        repeat_to_common_tokens([a, b[0]])
