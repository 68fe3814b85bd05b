"""A current-state Delta table reads the same with deltalake → pyarrow and with polars.

target-s3 (`table_format: delta`) lands a small stream with exact decimals, instants
in microseconds, nulls and an update; each reader, given only the table's S3 URI and
the S3 settings, returns exactly the newest version of every row.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

TARGET = str(Path(sys.executable).with_name("target-s3"))

SCHEMA = {
    "type": "SCHEMA",
    "stream": "orders",
    "key_properties": ["id"],
    "bookmark_properties": ["updated_at"],
    "schema": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "total": {"type": ["null", "number"], "multipleOf": 0.01},
            "note": {"type": ["null", "string"]},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
}
RECORDS = [
    {"id": 1, "total": "10.10", "note": "first", "updated_at": "2024-03-01T10:00:00.000001Z"},
    {"id": 2, "total": "99999999.99", "note": None, "updated_at": "2024-03-01T10:00:01Z"},
    {"id": 3, "total": None, "note": "é ünïcode", "updated_at": "2024-03-01T10:00:02Z"},
    {"id": 1, "total": "0.30", "note": "updated", "updated_at": "2024-03-02T08:30:00.123456Z"},
]
# the current table: each key's newest version
EXPECTED = {
    1: (Decimal("0.30"), "updated", datetime(2024, 3, 2, 8, 30, 0, 123456, tzinfo=UTC)),
    2: (Decimal("99999999.99"), None, datetime(2024, 3, 1, 10, 0, 1, tzinfo=UTC)),
    3: (None, "é ünïcode", datetime(2024, 3, 1, 10, 0, 2, tzinfo=UTC)),
}


def read_with_pyarrow(uri: str, options: dict[str, str]) -> list[dict]:
    return DeltaTable(uri, storage_options=options).to_pyarrow_table().to_pylist()


def read_with_polars(uri: str, options: dict[str, str]) -> list[dict]:
    return pl.read_delta(uri, storage_options=options).to_dicts()


READERS = [read_with_pyarrow, read_with_polars]


@pytest.fixture(scope="module")
def current_table(s3, tmp_path_factory) -> tuple[str, dict[str, str]]:
    """The stream landed by target-s3 in delta mode: (table URI, storage options)."""
    bucket = s3.create_bucket("delta-readers")
    config = tmp_path_factory.mktemp("readers") / "config.json"
    config.write_text(json.dumps(s3.target_config(bucket=bucket, table_format="delta")))
    lines = [SCHEMA, *({"type": "RECORD", "stream": "orders", "record": r} for r in RECORDS)]
    data = "".join(json.dumps(m) + "\n" for m in lines).encode()
    result = subprocess.run(
        [TARGET, "--config", str(config)], input=data, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    options = {
        "AWS_ENDPOINT_URL": s3.endpoint_url, "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
    }  # fmt: skip
    return f"s3://{bucket}/lake/acme/_current/orders", options


@pytest.mark.parametrize("read", READERS, ids=lambda r: r.__name__)
def test_each_reader_returns_the_current_rows_exactly(current_table, read):
    rows = read(*current_table)
    assert len(rows) == len(EXPECTED)
    for row in rows:
        landed = (row["total"], row["note"], row["updated_at"])
        assert landed == EXPECTED[row["id"]], row
        assert isinstance(row["total"], Decimal | None), "decimals stay exact"
