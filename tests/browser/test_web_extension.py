"""FrameLoom's frontend extension in the real frontend: the RIFE node shows its animated preview after a run."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import tempfile
import urllib.parse

import pytest
import torch

from tests.support.browser import NODE_MODULES
from tests.support.server import node_errors

ROOT = pathlib.Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "browser" / "preview_driver.mjs"
WORKFLOW = ROOT / "workflows" / "frameloom_rife_interpolate.json"
NODE_TYPE = "FrameLoomRIFEInterpolate"
HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_FILE = HOSTILE + ".webp"


def _write_hostile_preview(temp_dir: pathlib.Path) -> None:
    """A real two-frame WebP under a file name that is also an HTML payload, so its preview must load and stay text."""
    from PIL import Image

    temp_dir.mkdir(parents=True, exist_ok=True)
    frames = [Image.fromarray((torch.full((64, 96, 3), v) * 255).byte().numpy()) for v in (0.2, 0.8)]
    frames[0].save(temp_dir / HOSTILE_FILE, save_all=True, append_images=frames[1:], duration=125, loop=0)


@pytest.fixture(scope="module")
def preview_run(comfy_server, tmp_path_factory):
    if not (NODE_MODULES / "playwright-core").is_dir():
        pytest.fail(f"playwright-core not found in {NODE_MODULES}; run scripts/provision_browser.sh")
    _write_hostile_preview(comfy_server.base_dir / "temp")
    out = tmp_path_factory.mktemp("preview_browser")
    task = out / "task.json"
    task.write_text(json.dumps({"workflow": str(WORKFLOW), "node_type": NODE_TYPE, "hostile": HOSTILE,
                                "hostile_file": HOSTILE_FILE, "screenshot": str(out / "preview.png")}))
    env = dict(os.environ, FRAMELOOM_NODE_MODULES=str(NODE_MODULES))
    proc = subprocess.run(["node", str(DRIVER), comfy_server.url, str(task)], capture_output=True, text=True,
                          timeout=400, env=env, cwd=tempfile.gettempdir())
    assert proc.returncode == 0, f"preview driver failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout)


def test_workflow_runs_and_reports_the_preview(comfy_server, preview_run):
    assert preview_run["status"] == "success"
    entry = comfy_server.wait(preview_run["promptId"])
    assert entry["status"]["status_str"] == "success", node_errors(entry)
    ui = entry["outputs"][str(preview_run["nodeId"])]["frameloom_preview"][0]
    assert ui["type"] == "temp" and ui["filename"].startswith("FrameLoom_RIFE") and ui["filename"].endswith(".webp")
    assert (comfy_server.base_dir / "temp" / ui["subfolder"] / ui["filename"]).is_file()
    # the image the node shows is that file, served by /view
    query = urllib.parse.parse_qs(urllib.parse.urlparse(preview_run["preview"]["src"]).query)
    assert query["filename"] == [ui["filename"]] and query["type"] == ["temp"]


def test_rife_node_shows_a_loaded_animation(preview_run):
    shown = preview_run["preview"]
    assert shown["src"] and shown["status"] == 200 and shown["contentType"] == "image/webp"
    assert (shown["riff"], shown["webp"], shown["animated"]) == ("RIFF", "WEBP", True)
    assert (shown["naturalWidth"], shown["naturalHeight"]) == (96, 64)  # the sample video, below the 512 px bound
    assert shown["widgetsInNode"] == 1 and shown["descendants"] == 2  # one <img>, one caption
    assert shown["captionText"] == "15 frames · 16 fps · 96×64"  # 8 frames at 8 fps, one new frame per pair
    # the node grew to show the preview at its aspect ratio
    assert shown["nodeSize"][1] >= (shown["nodeSize"][0] - 20) * 64 / 96


def test_preview_changes_neither_prompt_nor_saved_widgets(preview_run):
    shown = preview_run["preview"]
    assert shown["promptAfter"] == preview_run["promptBefore"]
    assert "frameloom_preview" not in shown["promptAfter"]
    assert len(json.loads(shown["serializedWidgets"])) == 6  # the node's own six widgets, nothing appended


def test_titles_and_file_names_stay_text(preview_run):
    hostile = preview_run["hostile"]
    assert preview_run["dialogs"] == [] and preview_run["injected"] == 0
    assert hostile["descendants"] == 2
    assert hostile["alt"] == f"{HOSTILE} preview"
    assert hostile["captionTitle"] == HOSTILE_FILE and hostile["imgTitle"] == HOSTILE_FILE
    assert hostile["status"] == 200  # the name was URL-encoded, so the file still loads
    assert hostile["captionText"] == "2 frames · 8 fps · 96×64"


def test_extension_registered_once_despite_two_web_paths(preview_run):
    assert len(preview_run["extensionFiles"]) >= 1
    assert preview_run["registeredBefore"] == 1
    assert preview_run["reimportError"] is None
    assert preview_run["registeredAfter"] == 1


def test_no_console_errors_from_the_extension(preview_run):
    # The offline frontend's own look-ups of the public registry (api.comfy.org) are not ours.
    ours = [e for e in preview_run["consoleErrors"]
            if "api.comfy.org" not in e["text"]
            and ("frameloom" in (e["text"] + e["url"]).lower() or "/view" in e["url"])]
    assert ours == []


