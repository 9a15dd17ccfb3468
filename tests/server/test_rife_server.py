"""RIFE through a real ComfyUI server: registration, a full load -> interpolate -> save graph, errors and Cancel."""
from __future__ import annotations

import pathlib
import time

from tests.support.fixtures import BAD_RIFE_FILE, RIFE_FILE, SAMPLE_VIDEO
from tests.support.media import count_frames
from tests.support.server import node_errors


def rife_video_prompt(model: str = RIFE_FILE, multiplier: int = 2) -> dict:
    return {
        "1": {"class_type": "LoadVideo", "inputs": {"file": SAMPLE_VIDEO}},
        "2": {"class_type": "GetVideoComponents", "inputs": {"video": ["1", 0]}},
        "3": {"class_type": "FrameLoomRIFELoader", "inputs": {"model_name": model, "precision": "auto"}},
        "4": {
            "class_type": "FrameLoomRIFEInterpolate",
            "inputs": {
                "rife_model": ["3", 0], "images": ["2", 0], "multiplier": multiplier, "scale": "1.0",
                "ensemble": False, "scene_cut_threshold": 0.0, "batch_size": 3, "fps": ["2", 2],
            },
        },
        "5": {"class_type": "CreateVideo", "inputs": {"images": ["4", 0], "fps": ["4", 1]}},
        "6": {"class_type": "SaveVideo", "inputs": {"video": ["5", 0], "filename_prefix": "frameloom/rife", "format": "auto", "codec": "auto"}},
    }


def test_rife_model_choices(comfy_server):
    info = comfy_server.get("/object_info")
    options = info["FrameLoomRIFELoader"]["input"]["required"]["model_name"][1]["options"]
    assert RIFE_FILE in options and BAD_RIFE_FILE in options


def test_interpolates_video_end_to_end(comfy_server):
    prompt_id = comfy_server.queue(rife_video_prompt(multiplier=2))
    entry = comfy_server.wait(prompt_id)
    assert entry["status"]["status_str"] == "success", node_errors(entry)
    saved = entry["outputs"]["6"]["images"][0]
    path = comfy_server.base_dir / "output" / saved["subfolder"] / saved["filename"]
    assert count_frames(path) == 2 * 8 - 1
    progress = [e["data"] for e in comfy_server.events_for(prompt_id, "progress") if e["data"]["node"] == "4"]
    assert progress and progress[-1]["value"] == progress[-1]["max"] == 7


def test_wrong_checkpoint_is_reported(comfy_server):
    entry = comfy_server.wait(comfy_server.queue(rife_video_prompt(model=BAD_RIFE_FILE)))
    assert entry["status"]["status_str"] == "error"
    message = node_errors(entry)[0]["exception_message"]
    assert "RIFE" in message and "encoder.weight" in message


def long_prompt(frames: int) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 96, "height": 64, "batch_size": frames, "color": 0x336699}},
        "2": {"class_type": "FrameLoomRIFELoader", "inputs": {"model_name": RIFE_FILE, "precision": "fp32"}},
        "3": {
            "class_type": "FrameLoomRIFEInterpolate",
            "inputs": {
                "rife_model": ["2", 0], "images": ["1", 0], "multiplier": 4, "scale": "1.0", "ensemble": False,
                "scene_cut_threshold": 0.0, "batch_size": 1, "fps": 24.0,
            },
        },
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
    }


def test_cancel_mid_run_then_run_again(comfy_server):
    prompt_id = comfy_server.queue(long_prompt(400))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(e["data"]["node"] == "3" for e in comfy_server.events_for(prompt_id, "progress")):
            break
        time.sleep(0.05)
    comfy_server.interrupt()
    entry = comfy_server.wait(prompt_id)
    kinds = [kind for kind, _ in entry["status"]["messages"]]
    assert "execution_interrupted" in kinds
    done = [e["data"]["value"] for e in comfy_server.events_for(prompt_id, "progress") if e["data"]["node"] == "3"]
    assert max(done) < 399, "the run finished instead of stopping on Cancel"
    again = comfy_server.wait(comfy_server.queue(long_prompt(5)))
    assert again["status"]["status_str"] == "success", node_errors(again)
