"""Run tests/browser/driver.mjs (playwright-core + Debian chromium) against a live ComfyUI server."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import tempfile

from .runtime import CACHE, REPO_ROOT

DRIVER = REPO_ROOT / "tests" / "browser" / "driver.mjs"
NODE_MODULES = CACHE / "node" / "node_modules"


def run_driver(server_url: str, workflows: dict[str, pathlib.Path], queue: bool = True,
               screenshot_dir: pathlib.Path | None = None, timeout: float = 300.0) -> dict:
    if not (NODE_MODULES / "playwright-core").is_dir():
        raise RuntimeError(f"playwright-core not found in {NODE_MODULES}; run scripts/provision_browser.sh (scripts/test.sh does)")
    task = {"workflows": [{"name": k, "path": str(v)} for k, v in workflows.items()], "queue": queue}
    if screenshot_dir is not None:
        task["screenshot_dir"] = str(screenshot_dir)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(task, fh)
    env = dict(os.environ, FRAMELOOM_NODE_MODULES=str(NODE_MODULES))
    try:
        proc = subprocess.run(["node", str(DRIVER), server_url, fh.name], capture_output=True, text=True,
                              timeout=timeout, env=env)
    finally:
        os.unlink(fh.name)
    if proc.returncode != 0:
        raise RuntimeError(f"browser driver failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout)


def run_browser_script(script: pathlib.Path, server_url: str, task: dict, timeout: float = 300.0) -> dict:
    """Run one tests/browser/*.mjs driver as `node <script> <server-url> <task.json>` and return the JSON it prints."""
    if not (NODE_MODULES / "playwright-core").is_dir():
        raise RuntimeError(f"playwright-core not found in {NODE_MODULES}; run scripts/provision_browser.sh")
    with tempfile.TemporaryDirectory() as tmp:
        task_path = pathlib.Path(tmp) / "task.json"
        task_path.write_text(json.dumps(task))
        env = dict(os.environ, FRAMELOOM_NODE_MODULES=str(NODE_MODULES))
        proc = subprocess.run(["node", str(script), server_url, str(task_path)], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=tmp)
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout)


def frameloom_console_errors(errors: list[dict]) -> list[dict]:
    """The {text, url} console errors a watched page logged that come from FrameLoom's extension.

    Ours name an extension file in their text, URL or stack. The offline frontend logs its own: 404s for user files,
    look-ups of the public registry (api.comfy.org), a TypeError in its settings watcher on every load.
    """
    return [e for e in errors if "api.comfy.org" not in e["text"]
            and ("frameloom" in (e["text"] + e["url"]).lower() or "/extensions/" in e["text"] + e["url"])]
