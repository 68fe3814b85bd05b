"""`python -m erp_orchestration serve`: the Dagster UI and daemon on this machine.

With `--services` it also starts the sandbox ERP (127.0.0.1:8765) and a local S3
server (127.0.0.1:5555) unless they already answer, and stops what it started on
Ctrl-C. Without a `.env`, the clients' variables come from `.env.example`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from erp_orchestration.client_run import PROJECT_ROOT
from erp_orchestration.definitions_settings import SettingError
from erp_orchestration.instance import prepare_home
from erp_orchestration.meltano_project import read_env_file

DEFINITIONS = Path(__file__).with_name("definitions.py")
SANDBOX_PORT, S3_PORT, BUCKET = 8765, 5555, "erp-lake"


def _answers(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=1).status_code < 500
    except requests.RequestException:
        return False


@contextlib.contextmanager
def local_services() -> Iterator[None]:
    """The sandbox ERP and local S3 on their usual ports, started only if not running."""
    from erp_sandbox.testing import sandbox_server
    from target_s3.testing import local_s3

    with contextlib.ExitStack() as stack:
        if not _answers(f"http://127.0.0.1:{SANDBOX_PORT}/_health"):
            stack.enter_context(sandbox_server(port=SANDBOX_PORT))
            print(f"sandbox ERP: http://127.0.0.1:{SANDBOX_PORT}")
        if not _answers(f"http://127.0.0.1:{S3_PORT}/moto-api/"):
            stack.enter_context(local_s3(bucket=BUCKET, port=S3_PORT))
            print(f"local S3: http://127.0.0.1:{S3_PORT} (bucket {BUCKET})")
        yield


def _environment(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    if not (PROJECT_ROOT / ".env").is_file():
        for name, value in read_env_file(PROJECT_ROOT / ".env.example").items():
            if value:
                env.setdefault(name, value)
    env["DAGSTER_HOME"] = str(home.resolve())
    return env


def serve(home: Path, port: int, services: bool) -> int:
    """Run `dagster dev` (UI and daemon) until Ctrl-C; returns its exit status."""
    prepare_home(home)
    cmd = [
        str(Path(sys.executable).parent / "dagster"),
        "dev",
        "-f",
        str(DEFINITIONS),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    with local_services() if services else contextlib.nullcontext():
        process = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=_environment(home))
        print(f"Dagster UI: http://127.0.0.1:{port} (instance {home / 'dagster.yaml'})")
        try:
            return process.wait()
        except KeyboardInterrupt:
            process.send_signal(signal.SIGINT)
            try:
                return process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                return process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="erp_orchestration", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="the Dagster UI and daemon")
    run.add_argument("--home", type=Path, default=PROJECT_ROOT / ".dagster")
    run.add_argument("--port", type=int, default=3000)
    run.add_argument("--services", action="store_true", help="start the sandbox and local S3")
    args = parser.parse_args(argv)
    try:
        return serve(args.home, args.port, args.services)
    except SettingError as exc:
        print(f"erp_orchestration: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
