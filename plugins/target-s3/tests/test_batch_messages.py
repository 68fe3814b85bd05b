"""BATCH messages: records in JSON-lines files land like RECORD messages, exactly once."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pyarrow as pa
import pytest
from conftest import order_line_json, order_stream, read_parquet, run_target, states


def batch_input(tmp_path, ids_per_file: list[range], *, gz: bool = False) -> tuple[bytes, list]:
    schema_line = order_stream(range(0), stream="order_lines").decode().splitlines()[0]
    out, paths = [schema_line], []
    for n, ids in enumerate(ids_per_file):
        path = tmp_path / (f"order_lines-{n}.jsonl" + (".gz" if gz else ""))
        body = "".join(order_line_json(i) + "\n" for i in ids).encode()
        path.write_bytes(gzip.compress(body) if gz else body)
        paths.append(path)
        encoding = {"format": "jsonl", "compression": "gzip" if gz else "none"}
        out.append(
            json.dumps(
                {
                    "type": "BATCH",
                    "stream": "order_lines",
                    "encoding": encoding,
                    "manifest": [path.as_uri()],
                }
            )
        )
        out.append(json.dumps({"type": "STATE", "value": {"last_id": ids[-1]}}))
    return ("\n".join(out) + "\n").encode(), paths


@pytest.mark.parametrize("gz", [False, True])
def test_batch_files_land_and_are_removed(s3, bucket, config, tmp_path, gz):
    data, paths = batch_input(tmp_path, [range(1, 501), range(501, 1201)], gz=gz)
    result = run_target(config, data, tmp_path)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    table = pa.concat_tables(read_parquet(s3, bucket, "lake/acme/order_lines/"))
    assert sorted(table.column("id").to_pylist()) == list(range(1, 1201))
    assert table.column("_extracted_at").null_count == 0
    assert states(result.stdout)[-1] == {"last_id": 1200}
    assert not any(p.exists() for p in paths)  # a transport: taken once read


def test_unsupported_batch_encoding_is_one_clear_error(s3, bucket, config, tmp_path):
    data, _ = batch_input(tmp_path, [range(1, 10)])
    data = data.replace(b'"format": "jsonl"', b'"format": "parquet"')
    result = run_target(config, data, tmp_path)
    err = result.stderr.decode()
    assert result.returncode == 1
    assert "Traceback" not in err
    assert "BATCH encoding 'parquet'" in err
    assert result.stdout == b""
    assert read_parquet(s3, bucket, "lake/acme/order_lines/") == []


@pytest.mark.parametrize("chunk_bytes", [64, 1 << 20])
@pytest.mark.parametrize(
    "layout",
    ["plain", "crlf", "blank lines", "no final newline"],
)
def test_batch_file_chunks_are_the_files_records(tmp_path, monkeypatch, chunk_bytes, layout):
    """Every record line once, wrapped as a RECORD message, whatever the line layout."""
    from target_s3 import batch_files

    monkeypatch.setattr(batch_files, "CHUNK_BYTES", chunk_bytes)
    lines = [order_line_json(i) for i in range(1, 301)]
    body = {
        "plain": "".join(line + "\n" for line in lines),
        "crlf": "".join(line + "\r\n" for line in lines),
        "blank lines": "\n" + "".join(line + "\n\n" for line in lines),
        "no final newline": "\n".join(lines),
    }[layout]
    path = tmp_path / "order_lines.jsonl"
    path.write_bytes(body.encode())
    chunks = list(batch_files.record_chunks("order_lines", path.as_uri(), {"format": "jsonl"}))
    messages = [json.loads(m) for data, _ in chunks for m in data.splitlines()]
    assert sum(count for _, count in chunks) == len(messages) == 300
    assert all(data.endswith(b"\n") and data.count(b"\n") == n for data, n in chunks)
    assert [m["record"] for m in messages] == [json.loads(line) for line in lines]
    assert all(set(m) == {"record", "time_extracted"} for m in messages)
    if chunk_bytes == 64:
        assert len(chunks) > 1


def test_batch_larger_than_max_rows_splits_into_full_batches(s3, bucket, config, tmp_path):
    data, _ = batch_input(tmp_path, [range(1, 1001)])
    result = run_target({**config, "batch_max_rows": 300}, data, tmp_path)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    tables = read_parquet(s3, bucket, "lake/acme/order_lines/")
    assert sorted(t.num_rows for t in tables) == [100, 300, 300, 300]
    ids = pa.concat_tables(tables).column("id").to_pylist()
    assert sorted(ids) == list(range(1, 1001))


def test_module_entry_point_splits_a_batch_file(s3, bucket, config, tmp_path):
    """`python -m target_s3.target` runs the same target, also where a chunk is split."""
    data, _ = batch_input(tmp_path, [range(1, 1001)])
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**config, "batch_max_rows": 300}))
    result = subprocess.run(
        [sys.executable, "-m", "target_s3.target", "--config", str(path)],
        input=data,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    tables = read_parquet(s3, bucket, "lake/acme/order_lines/")
    assert sorted(t.num_rows for t in tables) == [100, 300, 300, 300]
    assert states(result.stdout) == [{"last_id": 1000}]


def test_batch_files_through_validation_and_stream_maps(s3, bucket, config, tmp_path):
    """Without the raw path (validation, maps), batch records go the per-record way."""
    data, paths = batch_input(tmp_path, [range(1, 51), range(51, 101)])
    settings = {**config, "validate_records": True, "stream_maps": {"order_lines": {}}}
    result = run_target(settings, data, tmp_path)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    table = pa.concat_tables(read_parquet(s3, bucket, "lake/acme/order_lines/"))
    assert sorted(table.column("id").to_pylist()) == list(range(1, 101))
    assert table.column("_extracted_at").null_count == 0
    assert states(result.stdout)[-1] == {"last_id": 100}
    assert not any(p.exists() for p in paths)


@pytest.mark.parametrize("trailing", ["batch", "records"])
def test_records_after_the_last_state_are_not_loaded(s3, bucket, config, tmp_path, trailing):
    """A tap that stops early (killed) leaves records no STATE covers: it sends them
    again from its last STATE, so loading them now would duplicate them."""
    data, _ = batch_input(tmp_path, [range(1, 301), range(301, 601)])
    lines = data.decode().splitlines()
    assert json.loads(lines[-1])["type"] == "STATE"
    if trailing == "batch":
        lines = lines[:-1]  # the second batch file, without its STATE
    else:
        lines = lines[:3]  # the schema, the first batch and its STATE
        lines += [
            json.dumps({"type": "RECORD", "stream": "order_lines", "record": r})
            for r in (json.loads(order_line_json(i)) for i in range(301, 321))
        ]
    config["batch_max_rows"] = 120  # batches already published hold trailing records too
    result = run_target(config, ("\n".join(lines) + "\n").encode(), tmp_path)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    table = pa.concat_tables(read_parquet(s3, bucket, "lake/acme/order_lines/"))
    assert sorted(table.column("id").to_pylist()) == list(range(1, 301))
    assert states(result.stdout) == [{"last_id": 300}]
    assert "arrived after the last STATE and were not loaded" in result.stderr.decode()
