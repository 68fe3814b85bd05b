"""Run the control plane for tests: a scratch Meltano project and a real uvicorn server.

with control_plane_server(project_dir=scratch_project(tmp)) as api:
    api.post("/connections", json={...})
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet

from erp_control_plane.settings import PROJECT_ROOT

PLUGIN_KINDS = ("extractors", "loaders", "utilities", "mappers", "transformers")


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scratch_project(folder: Path, root: Path = PROJECT_ROOT) -> Path:
    """A copy of the Meltano project in `folder` that shares the installed plugins.

    Its `clients/` holds only the default environment, so clients the API writes
    there touch no checkout.
    """
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(root / "meltano.yml", folder / "meltano.yml")
    (folder / "clients").mkdir(exist_ok=True)
    shutil.copy(root / "clients" / "demo.meltano.yml", folder / "clients")
    (folder / "transforms").symlink_to(root / "transforms")
    (folder / ".meltano").mkdir(exist_ok=True)
    for kind in PLUGIN_KINDS:
        if (root / ".meltano" / kind).is_dir():
            (folder / ".meltano" / kind).symlink_to(root / ".meltano" / kind)
    return folder


class ControlPlane:
    """Handle on a running server: its URL, an authorised session, its log."""

    def __init__(self, url: str, token: str, log_path: Path) -> None:
        self.url = url
        self.token = token
        self.log_path = log_path
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An authorised request to the API."""
        return self.session.request(method, self.url + path, timeout=180, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET with the token."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        """POST with the token."""
        return self.request("POST", path, **kwargs)

    def log(self) -> str:
        """Everything the server wrote so far."""
        return self.log_path.read_text(errors="replace")

    def wait_for_run(self, run_id: str, timeout: float = 600) -> dict[str, Any]:
        """Poll a run until it ends; its last state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.get(f"/runs/{run_id}").json()
            if run["status"] not in ("queued", "running"):
                return run
            time.sleep(0.5)
        raise TimeoutError(f"run {run_id} still active after {timeout} s")


@contextlib.contextmanager
def control_plane_server(
    project_dir: Path,
    env: dict[str, str] | None = None,
    max_runs: int = 3,
    settings: dict[str, str] | None = None,
) -> Iterator[ControlPlane]:
    """Start `python -m erp_control_plane` on a free port; stop it at the end.

    A fresh token and secret key unless `settings` (ERP_CONTROL_PLANE_* variables) say.
    """
    port = free_port()
    token = Fernet.generate_key().decode()[:32]
    state = project_dir / ".meltano" / "control-plane"
    state.mkdir(parents=True, exist_ok=True)
    server_env = dict(os.environ if env is None else env)
    server_env.update(
        {
            "ERP_CONTROL_PLANE_TOKEN": token,
            "ERP_CONTROL_PLANE_SECRET_KEY": Fernet.generate_key().decode(),
            "ERP_CONTROL_PLANE_PROJECT_DIR": str(project_dir),
            "ERP_CONTROL_PLANE_MAX_RUNS": str(max_runs),
            "XDG_STATE_HOME": str(project_dir / ".meltano" / "xdg-state"),
            **(settings or {}),
        }
    )
    token = server_env["ERP_CONTROL_PLANE_TOKEN"]
    log_path = state / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "erp_control_plane", "--port", str(port)],
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    api = ControlPlane(f"http://127.0.0.1:{port}", token, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"control plane exited {process.returncode}:\n{api.log()}")
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(api.url + "/openapi.json", timeout=5).ok:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"control plane did not start:\n{api.log()}")
            time.sleep(0.2)
        yield api
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
