"""A real ComfyUI server for tests: started as a child process on a free loopback port, with FrameLoom linked in."""
from __future__ import annotations

import asyncio
import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any, Optional

from .runtime import CACHE, REPO_ROOT, STUBS_DIR, require_runtime

VENV_PYTHON = CACHE / "venv" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ComfyServer:
    """Owns one ComfyUI child process and speaks its HTTP and websocket API."""

    def __init__(self, base_dir: pathlib.Path):
        self.base_dir = base_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.client_id = uuid.uuid4().hex
        self.log_path = base_dir / "comfyui.log"
        self.proc: Optional[subprocess.Popen] = None
        self.events: list[dict] = []
        self._ws_thread: Optional[threading.Thread] = None
        self._ws_stop = threading.Event()

    # lifecycle ---------------------------------------------------------------------------------------------------
    def start(self, timeout: float = 180.0) -> "ComfyServer":
        comfy = require_runtime()
        nodes_dir = self.base_dir / "custom_nodes"
        nodes_dir.mkdir(parents=True, exist_ok=True)
        link = nodes_dir / "FrameLoom"
        if not link.exists():
            link.symlink_to(REPO_ROOT, target_is_directory=True)
        env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        # tiny test models are all per-op overhead; one math thread avoids oversubscribing a busy 2-core machine
        env.setdefault("OMP_NUM_THREADS", "1")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(STUBS_DIR), env.get("PYTHONPATH", "")) if p)
        python = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
        cmd = [
            python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
            "--base-directory", str(self.base_dir), "--disable-auto-launch", "--disable-api-nodes",
            "--database-url", "sqlite:///:memory:",
        ]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=comfy, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.proc.returncode} during start-up:\n{self.log()[-4000:]}")
            try:
                self.get("/system_stats")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        else:
            self.stop()
            raise RuntimeError(f"ComfyUI did not answer within {timeout}s:\n{self.log()[-4000:]}")
        self._start_ws()
        return self

    def stop(self) -> None:
        self._ws_stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._ws_thread is not None:
            self._ws_thread.join(timeout=5)
        if hasattr(self, "_log"):
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # HTTP --------------------------------------------------------------------------------------------------------
    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as resp:
            return json.loads(resp.read())

    def post(self, path: str, payload: Optional[dict] = None) -> Any:
        data = json.dumps(payload or {}).encode()
        req = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                body = resp.read()
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"POST {path} -> {err.code}: {err.read().decode(errors='replace')}") from err
        return json.loads(body) if body else None

    def queue(self, prompt: dict, extra_data: Optional[dict] = None) -> str:
        payload = {"prompt": prompt, "client_id": self.client_id}
        if extra_data:
            payload["extra_data"] = extra_data
        return self.post("/prompt", payload)["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 300.0) -> dict:
        """The /history entry of a finished prompt (success, error or interrupted)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            history = self.get(f"/history/{prompt_id}")
            if prompt_id in history and history[prompt_id].get("status", {}).get("completed") is not None:
                entry = history[prompt_id]
                if entry["status"].get("status_str") in ("success", "error"):
                    return entry
            time.sleep(0.25)
        raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout}s")

    def interrupt(self) -> None:
        self.post("/interrupt")

    # websocket ---------------------------------------------------------------------------------------------------
    def _start_ws(self) -> None:
        ready = threading.Event()

        async def listen() -> None:
            import aiohttp

            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(f"{self.url}/ws?clientId={self.client_id}") as ws:
                    ready.set()
                    while not self._ws_stop.is_set():
                        try:
                            msg = await ws.receive(timeout=0.5)
                        except asyncio.TimeoutError:
                            continue
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            self.events.append(json.loads(msg.data))
                        elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                            break

        self._ws_thread = threading.Thread(target=lambda: asyncio.run(listen()), daemon=True)
        self._ws_thread.start()
        ready.wait(timeout=10)

    def events_for(self, prompt_id: str, kind: Optional[str] = None) -> list[dict]:
        return [
            e for e in list(self.events)
            if e.get("data", {}).get("prompt_id") == prompt_id and (kind is None or e.get("type") == kind)
        ]

    def wait_event(self, prompt_id: str, kind: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events_for(prompt_id, kind)
            if found:
                return found[0]
            time.sleep(0.05)
        raise TimeoutError(f"no '{kind}' event for prompt {prompt_id} within {timeout}s")


def node_errors(entry: dict) -> list[dict]:
    """The execution_error messages of a history entry."""
    return [data for kind, data in entry.get("status", {}).get("messages", []) if kind == "execution_error"]
