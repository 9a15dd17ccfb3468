"""Every shipped workflow, loaded the drag-and-drop way in the real frontend, queued, and executed by the real server."""
from __future__ import annotations

import json
import pathlib

import pytest

from tests.support.browser import frameloom_console_errors, run_browser_script, run_driver
from tests.support.server import node_errors

WORKFLOWS = sorted((pathlib.Path(__file__).resolve().parents[2] / "workflows").glob("*.json"))
# Workflows as earlier releases shipped them (e.g. before the custom types got the FRAMELOOM_ prefix in 0.2.0): users
# keep such files, so they must still load and run unchanged.
LEGACY = sorted((pathlib.Path(__file__).resolve().parent / "legacy").glob("*.json"))


def test_workflows_ship_with_thumbnails():
    assert WORKFLOWS, "no shipped workflows found"
    for path in WORKFLOWS:
        assert path.with_suffix(".jpg").is_file(), f"{path.name} has no .jpg thumbnail"
        data = json.loads(path.read_text())
        assert data["nodes"] and "links" in data, f"{path.name} is not in ComfyUI's UI format"


@pytest.fixture(scope="module")
def browser_run(comfy_server):
    return run_driver(comfy_server.url, {p.stem: p for p in WORKFLOWS + LEGACY}, queue=True)


@pytest.mark.parametrize("workflow", [p.stem for p in WORKFLOWS + LEGACY])
def test_workflow_loads_queues_and_runs(comfy_server, browser_run, workflow):
    result = next(r for r in browser_run["results"] if r["name"] == workflow)
    assert result["missing"] == [], f"missing node types: {result['missing']}"
    widget_warnings = [w for w in result["warnings"] if "widget" in w.lower()]
    assert widget_warnings == []
    assert result["queueError"] is None, result["queueError"]
    assert any(t.startswith("FrameLoom") for t in result["classTypes"])
    entry = comfy_server.wait(result["promptId"])
    assert entry["status"]["status_str"] == "success", node_errors(entry)
    assert entry["outputs"], "the workflow produced no output"


def test_no_console_errors(browser_run):
    # The frontend looks every custom node up on the public registry (blocked offline by its own CSP); that is not ours.
    errors = [e for e in browser_run["consoleErrors"] if "frameloom" in e.lower() and "api.comfy.org" not in e]
    assert errors == []


@pytest.mark.parametrize("workflow", [p.stem for p in WORKFLOWS])
def test_saved_video_embeds_the_workflow(comfy_server, browser_run, workflow):
    """Core SaveVideo stores the graph in the file, so dropping the video back onto ComfyUI restores it."""
    import av

    result = next(r for r in browser_run["results"] if r["name"] == workflow)
    entry = comfy_server.wait(result["promptId"])
    saved = [item for out in entry["outputs"].values() for item in out.get("images", [])
             if item["filename"].endswith((".mp4", ".webm", ".mov"))]
    assert saved, "the workflow saved no video"
    for item in saved:
        path = comfy_server.base_dir / "output" / item["subfolder"] / item["filename"]
        with av.open(str(path)) as container:
            embedded = json.loads(container.metadata["workflow"])
        shipped = json.loads(next(p for p in WORKFLOWS if p.stem == workflow).read_text())
        assert sorted(n["type"] for n in embedded["nodes"]) == sorted(n["type"] for n in shipped["nodes"])


VIDEO_TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".mov": "video/quicktime"}
DROP_DRIVER = pathlib.Path(__file__).resolve().parent / "drop_driver.mjs"


def _saved_videos(entry: dict) -> list[dict]:
    return [item for out in entry["outputs"].values() for item in out.get("images", [])
            if item["filename"].endswith(tuple(VIDEO_TYPES))]


@pytest.fixture(scope="module")
def dropped_back(comfy_server, browser_run):
    """Each workflow's saved video (from the run above) dropped onto a fresh page, as a user drags it onto ComfyUI."""
    files = []
    for result in browser_run["results"]:
        saved = _saved_videos(comfy_server.wait(result["promptId"]))
        if not saved:
            continue  # test_saved_video_embeds_the_workflow reports it; the other workflows are still dropped
        item = saved[0]
        files.append({"name": result["name"], "filename": item["filename"], "subfolder": item["subfolder"],
                      "type": item["type"], "mime": VIDEO_TYPES[pathlib.Path(item["filename"]).suffix]})
    report = run_browser_script(DROP_DRIVER, comfy_server.url, {"files": files})
    return {r["name"]: r for r in report["results"]} | {"consoleErrors": report["consoleErrors"]}


@pytest.mark.parametrize("workflow", [p.stem for p in WORKFLOWS])
def test_dropping_the_saved_video_restores_the_graph(comfy_server, browser_run, dropped_back, workflow):
    import av

    assert workflow in dropped_back, "the workflow saved no video"
    restored = dropped_back[workflow]
    assert restored["status"] == 200 and restored["bytes"] > 0
    shipped = json.loads(next(p for p in WORKFLOWS if p.stem == workflow).read_text())
    assert sorted(n["type"] for n in restored["nodes"]) == sorted(n["type"] for n in shipped["nodes"])
    assert restored["links"] == len(shipped["links"])
    # node for node, the values the run used (the shipped ones with the CI sizes), as embedded in the file
    result = next(r for r in browser_run["results"] if r["name"] == workflow)
    item = _saved_videos(comfy_server.wait(result["promptId"]))[0]
    with av.open(str(comfy_server.base_dir / "output" / item["subfolder"] / item["filename"])) as container:
        embedded = json.loads(container.metadata["workflow"])
    assert {n["id"]: (n["type"], n["widgets_values"]) for n in restored["nodes"]} == {
        n["id"]: (n["type"], n.get("widgets_values")) for n in embedded["nodes"]}


def test_no_console_errors_when_dropping(dropped_back):
    assert frameloom_console_errors(dropped_back["consoleErrors"]) == []
