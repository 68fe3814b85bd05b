"""Rows deleted in the ERP leave the current tables: tap-erp finds them, target-s3 applies them.

Real Meltano runs (`tap-erp target-s3`) against the sandbox ERP (whose profile reads
tombstones) into Delta tables on the local S3 server: a full run, an incremental run
with updates, then a run after the ERP deleted 1 % of customers and orders. Each
current table is read back with DuckDB over the S3 API and compared with the ERP's
rows, every column; the history keeps the deleted rows with `_sdc_deleted_at`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path

import yaml
from erp_testing.project import ROOT, STREAMS
from erp_testing.standard_model import KEYS

DELTA = {"TARGET_S3_TABLE_FORMAT": "delta"}
JOB = ("--environment=demo", "run", "tap-erp", "target-s3")
MAP_FILES = ("transforms/erp_sandbox/standard_model.yml", "transforms/erp_sandbox/clients/acme.yml")
DELETED = "_sdc_deleted_at"


def standard_maps() -> dict[str, dict[str, str]]:
    """The demo's stream maps: column -> native field (`Field` or `Field["part"]`)."""
    maps: dict[str, dict[str, str]] = {}
    for name in MAP_FILES:
        for stream, spec in yaml.safe_load((ROOT / name).read_text()).items():
            maps.setdefault(stream, {}).update(
                {k: v for k, v in spec.items() if not k.startswith("__")}
            )
    return maps


def native(record: dict, expression: str) -> object:
    """The value a map expression (`Field` or `Field["part"]`) takes from an ERP row."""
    field, _, part = expression.partition('["')
    value = record.get(field)
    return value.get(part.rstrip('"]')) if part and isinstance(value, dict) else value


def comparable(value: object) -> object:
    """A value as the ERP's JSON and the lake's DuckDB types can both be compared."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | decimal.Decimal):
        return decimal.Decimal(str(value)).normalize()
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed.astimezone(dt.UTC)
        if value[:1] in "[{":
            return comparable(json.loads(value))
        return value
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [comparable(v) for v in value]
    return value


def assert_current_equals_erp(lake, erp, maps: dict[str, dict[str, str]]) -> None:
    """Each current table holds exactly the ERP's rows: the same keys, every column equal."""
    for stream in STREAMS:
        renames = maps[stream]
        columns = [c for c in renames if c in lake.columns(stream, lake.current_table(stream))]
        assert len(columns) == len(renames), (stream, set(renames) - set(columns))
        key = KEYS[stream][1]
        rows = lake.query(f"SELECT {', '.join(columns)} FROM {lake.current_table(stream)}")
        landed = {
            tuple(row[columns.index(k)] for k in key): [comparable(v) for v in row] for row in rows
        }
        assert len(landed) == len(rows), f"{stream}: a key twice in the current table"
        expected = {}
        for record in erp.records("acme", stream):
            values = [comparable(native(record, renames[c])) for c in columns]
            expected[tuple(values[columns.index(k)] for k in key)] = values
        landed = {tuple(comparable(k) for k in keys): v for keys, v in landed.items()}
        assert landed.keys() == expected.keys(), stream
        differing = [k for k in expected if landed[k] != expected[k]]
        assert not differing, (stream, differing[:3], landed[differing[0]], expected[differing[0]])


def one_percent(erp, stream: str) -> int:
    return max(1, len(erp.records("acme", stream)) // 100)


def test_full_incremental_and_deleting_runs_keep_current_tables_equal_to_the_erp(project, erp):
    project.env.update(DELTA)
    maps = standard_maps()
    project.run(*JOB)
    lake = project.lake()
    assert_current_equals_erp(lake, erp, maps)

    erp.advance(
        "acme", seconds=3600, new_orders=5, updated_orders=7, updated_lines=9,
        new_customers=2, updated_customers=4, updated_vendors=2,
    )  # fmt: skip
    project.run(*JOB)
    assert_current_equals_erp(lake, erp, maps)

    answer = erp.advance(
        "acme",
        seconds=600,
        updated_orders=3,
        deleted_customers=one_percent(erp, "customers"),
        deleted_orders=one_percent(erp, "sales_orders"),
    )
    deleted = answer["deleted"]
    assert deleted["customers"] and deleted["sales_orders"] and deleted["sales_order_lines"]
    project.run(*JOB)
    assert_current_equals_erp(lake, erp, maps)

    # the history keeps each deleted row: its versions, then the delete
    for stream, gone in deleted.items():
        if stream not in STREAMS or not gone:
            continue
        (key,) = KEYS[stream][1]
        (versions,) = lake.query(
            f"SELECT count(DISTINCT {key}) FROM {lake.table(stream)} "
            f"WHERE {DELETED} IS NOT NULL AND {key} IN ({', '.join(map(str, gone))})"
        )[0]
        assert versions == len(gone), stream


def test_delete_records_reach_any_singer_target(project, erp, tmp_path: Path):
    out = tmp_path / "jsonl"
    out.mkdir()
    project.env["TARGET_JSONL_DESTINATION_PATH"] = str(out)
    project.env["TAP_ERP_BATCH_MESSAGES"] = "false"  # target-jsonl reads RECORD messages only
    gone = erp.advance("acme", seconds=60, deleted_customers=2)["deleted"]["customers"]
    project.run("--environment=demo", "run", "tap-erp", "target-jsonl")
    (path,) = out.glob("customers*.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    deletes = [r for r in rows if r.get(DELETED)]
    assert sorted(r["customer_id"] for r in deletes) == sorted(gone)
    assert all(r["updated_at"] == r[DELETED] and r["customer_name"] is None for r in deletes)
    assert len(rows) - len(deletes) == len(erp.records("acme", "customers"))
