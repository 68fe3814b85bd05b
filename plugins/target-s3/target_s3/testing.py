"""A real local S3 server (moto_server) for tests, demos and benchmarks.

with local_s3(bucket="lake") as s3:
    s3.endpoint_url        # http://127.0.0.1:PORT
    s3.client()            # boto3 S3 client with the matching credentials
    s3.target_config(client_id="acme")  # settings for target-s3
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import typing as t
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class LocalS3:
    """Where the local S3 server listens and how to talk to it."""

    endpoint_url: str
    port: int
    bucket: str | None
    access_key_id: str = "local"
    secret_access_key: str = "local"
    region: str = "us-east-1"

    def client(self) -> t.Any:
        """A boto3 S3 client for this server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def create_bucket(self, name: str) -> str:
        """Create a bucket (idempotent) and return its name."""
        with contextlib.suppress(Exception):
            self.client().create_bucket(Bucket=name)
        return name

    def target_config(self, bucket: str | None = None, **overrides: t.Any) -> dict:
        """target-s3 settings pointing at this server."""
        config = {
            "bucket": bucket or self.bucket,
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "client_id": "acme",
            "prefix": "lake",
            "s3_max_attempts": 2,
            "s3_connect_timeout_seconds": 2,
        }
        config.update(overrides)
        return config


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"moto server exited with status {process.returncode}"
            raise RuntimeError(msg)
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    msg = f"moto server did not answer at {url} within {timeout:.0f}s"
    raise RuntimeError(msg)


@contextlib.contextmanager
def local_s3(
    bucket: str | None = "test-bucket",
    port: int | None = None,
    timeout: float = 30.0,
) -> Iterator[LocalS3]:
    """Start ``python -m moto.server`` on 127.0.0.1, create ``bucket``, stop it at exit."""
    port = port or free_port()
    env = dict(os.environ)
    env.setdefault("AWS_ACCESS_KEY_ID", "local")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    server = LocalS3(endpoint_url=f"http://127.0.0.1:{port}", port=port, bucket=bucket)
    try:
        _wait_until_up(f"{server.endpoint_url}/moto-api/", process, timeout)
        if bucket:
            server.client().create_bucket(Bucket=bucket)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


#: A ~15-field ERP order line, as the loader's tests and benchmark send it.
ORDER_LINES_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "order_id": {"type": "integer"},
        "line_no": {"type": "integer"},
        "sku": {"type": "string"},
        "description": {"type": ["null", "string"]},
        "quantity": {"type": "number", "multipleOf": 0.001},
        "unit_price": {"type": "number", "multipleOf": 0.01},
        "amount": {"type": ["null", "number"], "multipleOf": 0.01},
        "discount_pct": {"type": ["null", "number"]},
        "currency": {"type": "string"},
        "customer_id": {"type": "integer"},
        "is_closed": {"type": "boolean"},
        "delivery_date": {"type": ["null", "string"], "format": "date"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
