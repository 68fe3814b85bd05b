"""BATCH messages: records in JSON-lines files land like RECORD messages, exactly once."""

from __future__ import annotations

import gzip
import json

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
