"""Current-state Delta tables (target-s3 `table_format: delta`) end to end.

Real Meltano runs against the sandbox ERP and the local S3 server (full run, a run
with updates, lookback on every run), deletes sent through target-s3 as the Singer
SDK convention has them (`_sdc_deleted_at`), and kill -9 of the loader during
commits. Every current table is read back over the S3 API with DuckDB.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
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


# --- kill -9 of the loader during commits ----------------------------------------------

ROWS = 120  # keys
VERSIONS = 2  # versions per key, in increasing updated_at
STATE_EVERY = 40


def kill_input() -> list[dict]:
    """Order rows in versions, some keys deleted at the end of their life; a STATE every 40."""
    rng = random.Random(7)
    events = []
    for version in range(VERSIONS):
        for key in range(1, ROWS + 1):
            stamp = f"2024-01-0{version + 1}T{key % 24:02d}:00:00+00:00"
            events.append({"id": key, "amount": rng.randint(1, 10**6), "updated_at": stamp})
    for key in range(1, ROWS + 1, 13):
        events.append({"id": key, "amount": None, "updated_at": "2024-01-09T00:00:00+00:00",
                       "_sdc_deleted_at": "2024-01-09T00:00:00+00:00"})  # fmt: skip
    return events


SCHEMA = {
    "type": "SCHEMA",
    "stream": "orders",
    "key_properties": ["id"],
    "bookmark_properties": ["updated_at"],
    "schema": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "amount": {"type": ["null", "integer"]},
            "updated_at": {"type": "string", "format": "date-time"},
            "_sdc_deleted_at": {"type": ["null", "string"], "format": "date-time"},
        },
    },
}


def singer(events: list[dict], start: int) -> bytes:
    """SCHEMA, then events[start:] with STATE {"pos": n} after every STATE_EVERY-th."""
    lines = [SCHEMA]
    for n in range(start, len(events)):
        lines.append({"type": "RECORD", "stream": "orders", "record": events[n]})
        if (n + 1) % STATE_EVERY == 0 or n + 1 == len(events):
            lines.append({"type": "STATE", "value": {"pos": n + 1}})
    return "".join(json.dumps(m) + "\n" for m in lines).encode()


def expected_after(events: list[dict], pos: int) -> dict[int, dict | None]:
    """Each key's row after the first `pos` events (None: deleted)."""
    out: dict[int, dict | None] = {}
    for event in events[:pos]:
        out[event["id"]] = None if event.get("_sdc_deleted_at") else event
    return out


def current_rows(s3, bucket: str) -> dict[int, tuple]:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    options = {
        "AWS_ENDPOINT_URL": s3.endpoint_url, "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
    }  # fmt: skip
    try:
        table = DeltaTable(f"s3://{bucket}/lake/acme/_current/orders", storage_options=options)
    except TableNotFoundError:
        return {}
    rows = table.to_pyarrow_table(columns=["id", "amount", "updated_at"]).to_pylist()
    assert len(rows) == len({r["id"] for r in rows}), "a key twice in the current table"
    return {r["id"]: (r["amount"], r["updated_at"]) for r in rows}


def as_row(event: dict) -> tuple:
    return (event["amount"], datetime.fromisoformat(event["updated_at"]))


def run_and_kill(config: Path, data: bytes, delay: float) -> list[dict]:
    """Feed the loader; kill -9 after `delay` seconds; the STATEs it emitted."""
    proc = subprocess.Popen(
        [TARGET, "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    emitted: list[dict] = []
    reader = threading.Thread(
        target=lambda: emitted.extend(json.loads(line) for line in proc.stdout),  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()
    try:
        proc.stdin.write(data)  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
    except BrokenPipeError:
        pass
    time.sleep(delay)
    proc.kill()
    proc.wait(timeout=10)
    reader.join(timeout=10)
    return emitted


TRIALS = 20


def test_kill_9_during_commits_loses_and_duplicates_nothing(s3, tmp_path):
    events = kill_input()
    final = {k: as_row(v) for k, v in expected_after(events, len(events)).items() if v}
    rng = random.Random(2024)
    outcomes = []
    for trial in range(TRIALS):
        bucket = s3.create_bucket(f"kill-{trial}-{rng.randrange(10**6)}")
        config = tmp_path / f"config-{trial}.json"
        config.write_text(
            json.dumps(
                s3.target_config(
                    bucket=bucket, table_format="delta", batch_max_rows=60, run_lease_seconds=10
                )
            )
        )
        delay = rng.uniform(0.7, 2.5)  # start-up ~0.8 s, then a commit every ~0.3 s
        emitted = run_and_kill(config, singer(events, 0), delay)
        pos = emitted[-1]["pos"] if emitted else 0
        # State never ahead of a commit: what the last STATE covers is in the table.
        table = current_rows(s3, bucket)
        for key, event in expected_after(events, pos).items():
            if event is None:
                assert key not in table, (trial, key)
            else:
                assert key in table or not final.get(key), (trial, key)
                assert key not in table or table[key][1] >= as_row(event)[1], (trial, key)
        # The orchestrator resends from that STATE; the rerun completes the table.
        result = subprocess.run(
            [TARGET, "--config", str(config)],
            input=singer(events, pos),
            capture_output=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode()[-2000:]
        assert current_rows(s3, bucket) == final, trial
        outcomes.append(pos)
    assert len(outcomes) == TRIALS
    assert len(set(outcomes)) > 3, f"kills did not land at different points: {outcomes}"
