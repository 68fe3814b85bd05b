"""`make services` / `make services-stop`: keep the sandbox ERP and a local S3 server
running in the background on the ports the demo, acme and globex environments use
(127.0.0.1:8765 and 127.0.0.1:5555), so `meltano --environment=… run …` works by hand."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import requests
from erp_testing.project import BIN, ROOT

RUN_DIR = ROOT / ".meltano" / "services"
SERVICES = {
    "erp-sandbox": (
        [sys.executable, "-m", "erp_sandbox", "serve", "--host", "127.0.0.1", "--port", "8765"],
        "http://127.0.0.1:8765/_health",
    ),
    "local-s3": (
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", "5555"],
        "http://127.0.0.1:5555/moto-api/",
    ),
}
BUCKET = "erp-lake"


def _pidfile(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


def _wait(url: str, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return True
        except requests.RequestException:
            time.sleep(0.2)
    return False


def start() -> int:
    """Start every service that is not running yet, then create the lake bucket."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    for name, (command, health) in SERVICES.items():
        if _wait(health, seconds=0.5):
            print(f"{name}: already answering at {health.rsplit('/', 2)[0]}")
            continue
        log = (RUN_DIR / f"{name}.log").open("ab")
        proc = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
        _pidfile(name).write_text(str(proc.pid))
        if not _wait(health):
            print(f"{name}: did not start; see {RUN_DIR / (name + '.log')}", file=sys.stderr)
            return 1
        print(f"{name}: running (pid {proc.pid})")
    s3 = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:5555",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # the local S3 server takes any key
    )
    if BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=BUCKET)
    print(f"bucket s3://{BUCKET} ready at http://127.0.0.1:5555")
    return 0


def stop() -> int:
    """Stop what `start` started."""
    for name in SERVICES:
        pidfile = _pidfile(name)
        if not pidfile.exists():
            continue
        pid = int(pidfile.read_text())
        try:
            os.killpg(pid, signal.SIGTERM)
            print(f"{name}: stopped (pid {pid})")
        except ProcessLookupError:
            print(f"{name}: was not running")
        pidfile.unlink()
    return 0


if __name__ == "__main__":
    commands = {"start": start, "stop": stop}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        print("usage: services.py start|stop", file=sys.stderr)
        sys.exit(2)
    sys.exit(commands[sys.argv[1]]())
