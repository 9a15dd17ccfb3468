"""The Prompt Schedule timeline in the real frontend: markers where prompts start, errors where the node reports them."""
from __future__ import annotations

import json
import pathlib

import pytest

from modules.freenoise import PromptScheduleError, parse_prompt_schedule
from tests.support.browser import frameloom_console_errors, run_browser_script

ROOT = pathlib.Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "browser" / "timeline_driver.mjs"
WORKFLOW = ROOT / "workflows" / "frameloom_freenoise_long_t2v.json"
HOSTILE = "<img src=x onerror=window.__frameloomPwned=1>"

THREE = '"0": "a camel walking",\n"16": "a camel standing",\n"48": "a camel resting"'
TWO = '"0": "a camel walking",\n"32": "a camel standing"'
TYPED = ',\n"60": "a camel sleeping"'
STEPS = [
    {"name": "three", "frames": 64, "text": THREE},
    {"name": "retyped", "text": TWO},
    {"name": "typed", "type": TYPED},
    {"name": "frames", "frames": 128},
    {"name": "frames_silently", "frames": 96, "frames_silently": True},
    {"name": "syntax_error", "text": '"0": "a",\n"16" "b"', "click_error": True},
    {"name": "past_end", "text": '"0": "a",\n"96": "b"'},
    {"name": "hostile", "text": f'"0": "{HOSTILE}",\n"8": "b"'},
    {"name": "hostile_error", "text": f'"0": "{HOSTILE}" <b>bold</b>'},
    {"name": "fixed", "text": '"0": "a"'},
]


def _text_and_frames() -> dict[str, tuple[str, int]]:
    """The text and frames each step leaves in the node."""
    state, text, frames = {}, "", 64
    for step in STEPS:
        frames = step.get("frames", frames)
        text = step.get("text", text) + step.get("type", "")
        state[step["name"]] = (text, frames)
    return state


STATE = _text_and_frames()


@pytest.fixture(scope="module")
def timeline_run(comfy_server):
    report = run_browser_script(DRIVER, comfy_server.url, {"steps": STEPS, "workflow": str(WORKFLOW)})
    report["by_step"] = {s["name"]: s for s in report["steps"]}
    return report


def _assert_markers(seen: dict, frames: list[int], length: int) -> None:
    assert seen["state"] == "ok" and seen["visible"]
    assert [m["frame"] for m in seen["markers"]] == frames
    for marker in seen["markers"]:
        assert marker["left"].endswith("%")
        assert float(marker["left"][:-1]) == pytest.approx(100 * marker["frame"] / length, abs=1e-3)
        assert marker["fraction"] == pytest.approx(marker["frame"] / length, abs=1e-3)  # where it is drawn
    assert seen["labels"] == [str(f) for f in frames]
    assert seen["ariaInvalid"] == "false"


@pytest.mark.parametrize(
    "step,frames,length",
    [("three", [0, 16, 48], 64), ("retyped", [0, 32], 64), ("typed", [0, 32, 60], 64), ("frames", [0, 32, 60], 128),
     ("frames_silently", [0, 32, 60], 96), ("fixed", [0], 96)],
)
def test_markers_follow_text_and_frames(timeline_run, step, frames, length):
    seen = timeline_run["by_step"][step]
    _assert_markers(seen, frames, length)
    text, _ = STATE[step]
    assert seen["segments"] == [e.text for e in parse_prompt_schedule(text, length)]
    plural = "prompt" if len(frames) == 1 else "prompts"
    assert seen["status"] == f"{len(frames)} {plural} over {length} frames"


def test_three_prompts_show_where_each_starts(timeline_run):
    seen = timeline_run["by_step"]["three"]
    assert seen["segments"] == ["a camel walking", "a camel standing", "a camel resting"]
    assert [m["title"] for m in seen["markers"]] == [
        "frame 0: a camel walking", "frame 16: a camel standing", "frame 48: a camel resting"]


@pytest.mark.parametrize("step", ["syntax_error", "past_end", "hostile_error"])
def test_errors_show_the_parsers_message_and_position(timeline_run, step):
    seen = timeline_run["by_step"][step]
    text, frames = STATE[step]
    with pytest.raises(PromptScheduleError) as info:
        parse_prompt_schedule(text, frames)
    line, column = info.value.position
    assert seen["state"] == "error" and seen["markers"] == []
    assert seen["status"] == str(info.value)  # "line L, column C: ..." exactly as the node reports it
    row = text.split("\n")[line - 1]
    assert seen["errorAt"] == row[column - 1:column]  # the character at the position is the one marked
    prefix = f"{line}│ "
    assert seen["source"].startswith(prefix)
    shown = seen["source"][len(prefix):].strip("…")  # a long line is cut around the error
    assert seen["errorAt"] in shown and shown in row
    assert seen["ariaInvalid"] == "true"


def test_clicking_the_error_selects_it_in_the_text(timeline_run):
    seen = timeline_run["by_step"]["syntax_error"]
    assert seen["status"].startswith("line 2, column 6: ")
    offset = len('"0": "a",\n"16" ')
    assert seen["focused"] and seen["selection"] == [offset, offset + 1]


def test_prompt_text_is_shown_as_text(timeline_run):
    seen = timeline_run["by_step"]["hostile"]
    assert seen["segments"] == [HOSTILE, "b"]
    assert seen["markers"][0]["title"] == f"frame 0: {HOSTILE}"
    for step in ("hostile", "hostile_error"):
        assert "img" not in timeline_run["by_step"][step]["elementTags"]
        assert "b" not in timeline_run["by_step"][step]["elementTags"]
    assert "onerror=window.__frameloomPwned=1>\" <b>bold</b>" in timeline_run["by_step"]["hostile_error"]["source"]
    assert timeline_run["pwned"] is None and timeline_run["injectedImages"] == 0
    assert timeline_run["dialogs"] == []


def test_widget_is_neither_saved_nor_queued(timeline_run):
    for step in timeline_run["steps"]:
        text, frames = STATE[step["name"]]
        assert step["timelineWidgets"] == 1
        assert step["widgetsValues"] == [text, frames, False]  # the node's own three values, nothing appended
    assert timeline_run["promptInputs"] == {"text": STATE["fixed"][0], "frames": 96, "motion_injection": False}


def test_shipped_workflow_loads_saves_and_shows_its_schedule(timeline_run):
    shipped = json.loads(WORKFLOW.read_text())
    node = next(n for n in shipped["nodes"] if n["type"] == "FrameLoomPromptSchedule")
    assert [w for w in timeline_run["loadWarnings"] if "widget" in w.lower()] == []
    assert timeline_run["savedWidgetsValues"] == node["widgets_values"]
    text, frames, motion = node["widgets_values"]
    inputs = timeline_run["loadedPromptInputs"]
    assert {k: v for k, v in inputs.items() if k != "clip"} == {"text": text, "frames": frames, "motion_injection": motion}
    _assert_markers(timeline_run["loaded"], [e.frame for e in parse_prompt_schedule(text, frames)], frames)


def test_registered_once_and_no_console_errors(timeline_run):
    assert timeline_run["registered"] == 1
    ours = frameloom_console_errors(timeline_run["consoleErrors"])
    assert ours == [], json.dumps(ours, indent=1)
