"""Fixtures: one real local S3 server (moto_server) per session, a bucket per test."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from target_s3.testing import ORDER_LINES_SCHEMA, LocalS3, local_s3

TARGET = str(Path(sys.executable).with_name("target-s3"))
_stack = contextlib.ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    """Start the server before collection so the SDK test class can use it."""
    server = _stack.enter_context(local_s3(bucket="standard-tests"))
    config.stash[_KEY] = server
    os.environ["TARGET_S3_TEST_ENDPOINT"] = server.endpoint_url


def pytest_unconfigure(config: pytest.Config) -> None:
    _stack.close()


_KEY = pytest.StashKey[LocalS3]()


@pytest.fixture(scope="session")
def s3(pytestconfig: pytest.Config) -> LocalS3:
    return pytestconfig.stash[_KEY]


@pytest.fixture
def bucket(s3: LocalS3) -> str:
    return s3.create_bucket(f"t-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def config(s3: LocalS3, bucket: str) -> dict:
    return s3.target_config(bucket=bucket)


def messages(*items: dict) -> bytes:
    return "".join(json.dumps(m) + "\n" for m in items).encode()


def run_target(config: dict, data: bytes, tmp_path: Path, timeout: float = 120):
    """Run the console script on `data`; returns CompletedProcess (bytes)."""
    path = tmp_path / f"config-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [TARGET, "--config", str(path)],
        input=data,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def states(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


def list_keys(s3: LocalS3, bucket: str, prefix: str = "") -> dict[str, int]:
    client = s3.client()
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents") or []:
            out[obj["Key"]] = obj["Size"]
    return out


def read_parquet(s3: LocalS3, bucket: str, prefix: str) -> list[pa.Table]:
    client = s3.client()
    tables = []
    for key in sorted(list_keys(s3, bucket, prefix)):
        if key.endswith(".parquet"):
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            tables.append(pq.read_table(io.BytesIO(body)))
    return tables


def duckdb_query(s3: LocalS3, sql: str) -> list[tuple]:
    import site

    import duckdb

    con = duckdb.connect()
    ext = (
        site.getsitepackages()[0]
        + "/duckdb_ext/extensions/v1.4.4/linux_amd64/httpfs.duckdb_extension"
    )
    con.execute(f"LOAD '{ext}'")
    con.execute(
        f"CREATE SECRET (TYPE s3, KEY_ID '{s3.access_key_id}', SECRET '{s3.secret_access_key}', "
        f"REGION '{s3.region}', ENDPOINT '127.0.0.1:{s3.port}', URL_STYLE 'path', "
        "USE_SSL false)"
    )
    return con.execute(sql).fetchall()


def order_line(i: int) -> dict:
    """A deterministic order line; offsets vary, microseconds kept."""
    offsets = ["+02:00", "Z", "-05:30", "+00:00"]
    day = 1 + i % 28
    return {
        "id": i,
        "order_id": i // 5,
        "line_no": i % 5,
        "sku": f"SKU-{i % 977:05d}",
        "description": None if i % 7 == 0 else f'Item {i} \u00e9\u00fc "quoted"',
        "quantity": f"{(i % 50) + 0.125:.3f}",
        "unit_price": f"{(i % 1000) / 100 + 1:.2f}",
        "amount": None if i % 11 == 0 else f"{(i * 37 % 100000) / 100:.2f}",
        "discount_pct": (i % 4) * 0.05,
        "currency": "EUR",
        "customer_id": 10_000 + i % 313,
        "is_closed": i % 3 == 0,
        "delivery_date": f"2024-03-{day:02d}",
        "created_at": f"2024-02-{day:02d}T08:00:00.{i % 1000000:06d}{offsets[i % 4]}",
        "updated_at": (
            f"2024-03-{day:02d}T12:{i % 60:02d}:30.{(i * 7) % 1000000:06d}{offsets[i % 4]}"
        ),
    }


def order_line_json(i: int) -> str:
    """The JSON text with numbers written as JSON numbers (exact digits)."""
    rec = order_line(i)
    text = json.dumps(rec)
    for key in ("quantity", "unit_price", "amount"):
        if rec[key] is not None:
            text = text.replace(f'"{key}": "{rec[key]}"', f'"{key}": {rec[key]}')
    return text


def extracted_at(i: int) -> str:
    """The time_extracted of record i (with an offset, as taps may send it)."""
    return f"2024-05-01T12:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000000:06d}+02:00"


def order_stream(ids: range, state_every: int = 0, stream: str = "order_lines") -> bytes:
    """SCHEMA + RECORDs (+ STATE {"last_id": i} every `state_every` records)."""
    out = [
        json.dumps(
            {
                "type": "SCHEMA",
                "stream": stream,
                "schema": ORDER_LINES_SCHEMA,
                "key_properties": ["id"],
                "bookmark_properties": ["updated_at"],
            }
        )
    ]
    for n, i in enumerate(ids, start=1):
        out.append(
            f'{{"type": "RECORD", "stream": "{stream}", "record": {order_line_json(i)}, '
            f'"time_extracted": "{extracted_at(i)}"}}'
        )
        if state_every and n % state_every == 0:
            out.append(json.dumps({"type": "STATE", "value": {"last_id": i}}))
    if ids and state_every:
        out.append(json.dumps({"type": "STATE", "value": {"last_id": ids[-1]}}))
    return ("\n".join(out) + "\n").encode()
