"""record-lines: BATCH messages become RECORD lines; the loader sees nothing else change."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from record_lines.expand import BatchError, expand

RECORDS = [{"id": 1, "amount": "12.50"}, {"id": 2, "amount": "0.10", "note": 'a "quoted" é'}]
EXECUTABLE = str(Path(sys.executable).with_name("record-lines"))


def batch_file(folder: Path, compression: str) -> Path:
    data = "".join(json.dumps(r) + "\n" for r in RECORDS).encode()
    if compression == "gzip":
        path = folder / "batch.jsonl.gz"
        path.write_bytes(gzip.compress(data))
    else:
        path = folder / "batch.jsonl"
        path.write_bytes(data)
    return path


def batch_message(
    path: Path, compression: str, fmt: str = "jsonl", url: str | None = None
) -> bytes:
    message = {
        "type": "BATCH",
        "stream": "orders",
        "encoding": {"format": fmt, "compression": compression},
        "manifest": [url or path.as_uri()],
    }
    return json.dumps(message).encode() + b"\n"


SCHEMA = b'{"type":"SCHEMA","stream":"orders","schema":{},"key_properties":["id"]}\n'
STATE = b'{"type":"STATE","value":{"bookmark":1}}\n'


def records_of(lines: list[bytes]) -> list[dict]:
    return [json.loads(line) for line in lines if line]


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_a_batch_becomes_its_records_between_the_other_messages(tmp_path, compression):
    path = batch_file(tmp_path, compression)
    out = list(expand([SCHEMA, batch_message(path, compression), STATE]))
    lines = [data for data, _ in out]
    assert lines[0] == SCHEMA and lines[-1] == STATE
    messages = records_of(lines[1:-1])
    assert messages == [{"type": "RECORD", "stream": "orders", "record": r} for r in RECORDS]
    # the file is handed back to be taken once its records are out, before the STATE
    assert [taken for _, taken in out] == [None, None, None, path, None]


@pytest.mark.parametrize(
    ("fmt", "url", "complaint"),
    [
        ("parquet", None, "encoding format 'parquet'"),
        ("jsonl", "s3://bucket/batch.jsonl", "is not a local file"),
        ("jsonl", "file:///nowhere/batch.jsonl", "is missing"),
    ],
)
def test_a_batch_it_cannot_read_is_one_clear_error(tmp_path, fmt, url, complaint):
    path = batch_file(tmp_path, "none")
    with pytest.raises(BatchError, match=complaint):
        list(expand([batch_message(path, "none", fmt=fmt, url=url)]))


def test_the_loader_gets_record_lines_and_the_batch_file_is_taken(tmp_path):
    path = batch_file(tmp_path, "none")
    env = {**os.environ, "RECORD_LINES_LOADER": "cat"}  # a loader that echoes its input
    data = SCHEMA + batch_message(path, "none") + STATE
    result = subprocess.run([EXECUTABLE], input=data, env=env, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines(keepends=True)
    assert lines[0] == SCHEMA and lines[-1] == STATE
    assert [m["record"] for m in records_of(lines[1:-1])] == RECORDS
    assert not path.exists()


@pytest.mark.parametrize(
    ("loader", "complaint"),
    [("", "RECORD_LINES_LOADER must name"), ("no-such-loader", "no executable 'no-such-loader'")],
)
def test_an_unknown_loader_is_one_line_and_exit_2(loader, complaint):
    env = {**os.environ, "RECORD_LINES_LOADER": loader}
    result = subprocess.run(
        [EXECUTABLE], input="", env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert complaint in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_loaders_exit_code_is_kept(tmp_path):
    env = {**os.environ, "RECORD_LINES_LOADER": "false"}
    result = subprocess.run([EXECUTABLE], input=SCHEMA, env=env, capture_output=True, check=False)
    assert result.returncode == 1
