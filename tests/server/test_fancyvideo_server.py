"""FancyVideo through a real ComfyUI server on the tiny models: registration, a T2V graph from Load Checkpoint to Save
Video, readable errors, progress, and Cancel."""
from __future__ import annotations

import time

from tests.support.media import count_frames
from tests.support.server import node_errors
from tests.support.tiny_sd import BAD_FANCYVIDEO_FILE, CVVAE_FILE, FANCYVIDEO_FILE, SD15_FILE

SAMPLER = "6"


def t2v_prompt(fancyvideo: str = FANCYVIDEO_FILE, **sampler) -> dict:
    settings = dict(width=64, height=64, latent_frames=2, fps=25.0, motion_score=3.0, seed=1, steps=2, cfg=7.5,
                    sampler_name="ddim", scheduler="ddim_uniform")
    settings.update(sampler)
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": SD15_FILE}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a red fox in the snow"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "blurry"}},
        "4": {"class_type": "FrameLoomFancyVideoLoader", "inputs": {"model_name": fancyvideo}},
        "5": {"class_type": "FrameLoomCVVAELoader", "inputs": {"vae_name": CVVAE_FILE, "precision": "auto"}},
        SAMPLER: {"class_type": "FrameLoomFancyVideoSampler", "inputs": {
            "model": ["1", 0], "fancyvideo_model": ["4", 0], "positive": ["2", 0], "negative": ["3", 0],
            "vae": ["1", 2], "cvvae": ["5", 0], **settings}},
        "7": {"class_type": "FrameLoomCVVAEDecode", "inputs": {"cvvae": ["5", 0], "latent": [SAMPLER, 0]}},
        "8": {"class_type": "CreateVideo", "inputs": {"images": ["7", 0], "fps": 25.0}},
        "9": {"class_type": "SaveVideo", "inputs": {"video": ["8", 0], "filename_prefix": "frameloom/fancyvideo",
                                                    "format": "auto", "codec": "auto"}},
    }


def test_nodes_and_model_choices(comfy_server):
    info = comfy_server.get("/object_info")
    loader = info["FrameLoomFancyVideoLoader"]["input"]["required"]["model_name"][1]["options"]
    assert FANCYVIDEO_FILE in loader and BAD_FANCYVIDEO_FILE in loader
    assert CVVAE_FILE in info["FrameLoomCVVAELoader"]["input"]["required"]["vae_name"][1]["options"]
    sampler = info["FrameLoomFancyVideoSampler"]
    assert sampler["output"] == ["LATENT", "IMAGE"] and sampler["input"]["optional"]["cvvae"][0] == "FRAMELOOM_CVVAE"
    assert info["FrameLoomFancyVideoImageToVideo"]["input"]["required"]["vae"][0] == "FRAMELOOM_CVVAE,VAE"


def test_text_to_video_end_to_end(comfy_server):
    prompt_id = comfy_server.queue(t2v_prompt())
    entry = comfy_server.wait(prompt_id)
    assert entry["status"]["status_str"] == "success", node_errors(entry)
    saved = entry["outputs"]["9"]["images"][0]
    assert count_frames(comfy_server.base_dir / "output" / saved["subfolder"] / saved["filename"]) == 5  # 4 x 2 - 3
    progress = [e["data"] for e in comfy_server.events_for(prompt_id, "progress") if e["data"]["node"] == SAMPLER]
    assert [p["value"] for p in progress] == [1, 2, 3, 4] and {p["max"] for p in progress} == {4}


def test_errors_name_the_problem(comfy_server):
    entry = comfy_server.wait(comfy_server.queue(t2v_prompt(fancyvideo=BAD_FANCYVIDEO_FILE)))
    assert entry["status"]["status_str"] == "error"
    message = node_errors(entry)[0]["exception_message"]
    assert BAD_FANCYVIDEO_FILE in message and "plain AnimateDiff motion module" in message

    entry = comfy_server.wait(comfy_server.queue(t2v_prompt(width=100)))
    assert entry["status"]["status_str"] == "error"
    assert "width 100 (use 96 or 104)" in node_errors(entry)[0]["exception_message"]


def test_cancel_mid_run_then_run_again(comfy_server):
    prompt_id = comfy_server.queue(t2v_prompt(steps=200, seed=2))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(e["data"]["node"] == SAMPLER for e in comfy_server.events_for(prompt_id, "progress")):
            break
        time.sleep(0.05)
    comfy_server.interrupt()
    entry = comfy_server.wait(prompt_id)
    assert "execution_interrupted" in [kind for kind, _ in entry["status"]["messages"]]
    done = [e["data"]["value"] for e in comfy_server.events_for(prompt_id, "progress") if e["data"]["node"] == SAMPLER]
    assert max(done) < 400, "the run finished instead of stopping on Cancel"
    again = comfy_server.wait(comfy_server.queue(t2v_prompt(seed=3)))
    assert again["status"]["status_str"] == "success", node_errors(again)
