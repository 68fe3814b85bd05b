"""Current-state Delta tables (target-s3 `table_format: delta`) end to end.

Real Meltano runs against the sandbox ERP and the local S3 server (full run, a run
with updates, lookback on every run), deletes sent through target-s3 as the Singer
SDK convention has them (`_sdc_deleted_at`). Every current table is read back over
the S3 API with DuckDB. kill -9 of the loader during Delta commits is a row of the
fault matrix (`reliability/`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from erp_testing.project import STREAMS
from erp_testing.standard_model import KEYS

DELTA = {"TARGET_S3_TABLE_FORMAT": "delta"}
JOB = ("--environment=demo", "run", "erp-to-s3")
TARGET = str(Path(sys.executable).with_name("target-s3"))


def current_equals_newest_history(lake, stream: str) -> int:
    """Every current row equals its key's newest version in the history; returns rows."""
    key = ", ".join(KEYS[stream][1])
    current = lake.current_table(stream)
    columns = [c for c in lake.columns(stream, current) if not c.startswith("_")]
    listed = ", ".join(columns)
    newest = (
        f"SELECT {listed} FROM (SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY "
        f"updated_at DESC NULLS LAST, _extracted_at DESC, _loaded_at DESC) AS n "
        f"FROM {lake.table(stream)} WHERE _sdc_deleted_at IS NULL) WHERE n = 1"
    )
    mine = f"SELECT {listed} FROM {current}"
    both = f"({mine} EXCEPT ALL {newest}) UNION ALL ({newest} EXCEPT ALL {mine})"
    (diff,) = lake.query(f"SELECT count(*) FROM ({both})")[0]
    assert diff == 0, stream
    (rows, keys) = lake.query(f"SELECT count(*), count(DISTINCT ({key})) FROM {current}")[0]
    assert rows == keys, f"{stream}: a key twice in the current table"
    return rows


def assert_current_equals_erp(lake, erp, deleted: dict[str, set] | None = None) -> None:
    """Each current table has exactly the ERP's keys, each at the ERP's version."""
    deleted = deleted or {}
    for stream in STREAMS:
        rows = current_equals_newest_history(lake, stream)
        source = erp.records("acme", stream)
        assert rows == len(source) - len(deleted.get(stream, ())), stream
        if stream == "inventory":
            continue
        (native,), (key,) = KEYS[stream]
        landed = dict(lake.query(f"SELECT {key}, updated_at FROM {lake.current_table(stream)}"))
        expected = {
            r[native]: datetime.fromisoformat(r["ModifiedOn"])
            for r in source
            if r[native] not in deleted.get(stream, ())
        }
        assert landed == expected, stream


def test_full_incremental_lookback_and_deletes(project, erp):
    project.env.update(DELTA)
    project.env["TAP_ERP_LOOKBACK_SECONDS"] = "86400"
    project.run(*JOB)  # the job ends with erp-quality:check: green means no duplicates
    lake = project.lake()
    assert_current_equals_erp(lake, erp)

    erp.advance(
        "acme", seconds=3600, new_orders=5, updated_orders=7, updated_lines=9,
        new_customers=2, updated_customers=4, updated_vendors=2, updated_products=3,
    )  # fmt: skip
    project.run(*JOB)  # lookback re-reads a day of versions: still green, one row per key
    assert_current_equals_erp(lake, erp)
    project.run(*JOB)  # nothing changed: nothing changes
    assert_current_equals_erp(lake, erp)

    # Deletes arrive as records of their stream with key, replication key and
    # _sdc_deleted_at (the Singer SDK convention), straight into target-s3.
    deleted = {}
    messages = []
    for stream in ("customers", "sales_orders"):
        (native,), (key,) = KEYS[stream]
        rows = lake.query(
            f"SELECT {key}, updated_at FROM {lake.current_table(stream)} ORDER BY {key}"
        )
        gone = rows[:: max(1, len(rows) // max(1, len(rows) // 100))][: max(1, len(rows) // 100)]
        deleted[stream] = {k for k, _ in gone}
        schema = {
            "type": "object",
            "properties": {
                key: {"type": "integer"},
                "updated_at": {"type": "string", "format": "date-time"},
                "_sdc_deleted_at": {"type": ["null", "string"], "format": "date-time"},
            },
        }
        messages.append(
            {"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": [key],
             "bookmark_properties": ["updated_at"]}
        )  # fmt: skip
        now = datetime.now(UTC).isoformat()
        for k, updated in gone:
            record = {key: k, "updated_at": updated.isoformat(), "_sdc_deleted_at": now}
            messages.append({"type": "RECORD", "stream": stream, "record": record})
    messages.append({"type": "STATE", "value": {"deletes": "done"}})
    config = project.workdir / "target.json"
    ep = project.endpoints
    config.write_text(
        json.dumps(
            {
                "bucket": ep.bucket, "prefix": ep.prefix, "client_id": ep.client_id,
                "endpoint_url": ep.s3_endpoint_url, "region": "us-east-1",
                "aws_access_key_id": ep.access_key_id,
                "aws_secret_access_key": ep.secret_access_key, "table_format": "delta",
            }
        )
    )  # fmt: skip
    data = "".join(json.dumps(m) + "\n" for m in messages).encode()
    result = subprocess.run(
        [TARGET, "--config", str(config)], input=data, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    for stream, keys in deleted.items():
        (native,), (key,) = KEYS[stream]
        assert keys
        for k in keys:
            erp_row = [r for r in erp.records("acme", stream) if r[native] == k]
            assert erp_row, (stream, k)
        landed = {row[0] for row in lake.query(f"SELECT {key} FROM {lake.current_table(stream)}")}
        assert not landed & keys and len(landed) == len(erp.records("acme", stream)) - len(keys)
        # the history keeps the delete
        (kept,) = lake.query(
            f"SELECT count(*) FROM {lake.table(stream)} WHERE _sdc_deleted_at IS NOT NULL"
        )[0]
        assert kept == len(keys)
