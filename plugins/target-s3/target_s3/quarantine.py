"""Row checks of a converted batch, and the rows they reject.

Checked on every batch, after conversion and before partitioning:

* a null in a column the schema declares non-null (the ERP's metadata says so);
* a date or date-time outside 0001-01-01..9999-12-31 UTC (an offset can push
  ``0001-01-01T00:00:00+02:00`` into year 0 and ``9999-12-31T23:59:59-05:00`` into
  year 10000, which no reader can hold);
* values the converter could not store in their column's contract type (collected
  by the converter in quarantine mode).

With ``on_schema_violation: fail`` the first problem fails the stream with one line
naming stream, column and value. With ``quarantine`` the offending rows leave the
batch and are written as Parquet to ``{prefix}/{client}/_rejected/{stream}/…`` with
the column, the reason, the raw value and the raw record (both as JSON text); the
rest lands.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from target_s3.errors import DataError
from target_s3.types import TIMESTAMP
from target_s3.values import json_decoder, json_text

if t.TYPE_CHECKING:
    from target_s3.types import FieldType

#: The instants every reader can hold: 0001-01-01T00:00:00 .. 9999-12-31T23:59:59.999999 UTC.
MIN_MICROS = -62_135_596_800_000_000
MAX_MICROS = 253_402_300_799_999_999
MIN_DAYS = -719_162  # 0001-01-01
MAX_DAYS = 2_932_896  # 9999-12-31
RANGE = "0001-01-01..9999-12-31 UTC"

REJECTED_SCHEMA = pa.schema(
    [
        pa.field("stream", pa.string()),
        pa.field("column", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("raw_value", pa.string()),
        pa.field("record", pa.string()),
        pa.field("_run_id", pa.string()),
        pa.field("_rejected_at", TIMESTAMP),
    ]
)


@dataclass(frozen=True)
class Reject:
    """One row's problem: its index in the batch, the column and why."""

    row: int
    column: str
    reason: str


def _out_of_range(column: pa.ChunkedArray, kind: str) -> pa.ChunkedArray | None:
    """A mask of values outside the readable range (None when all are inside)."""
    if kind == "date-time":
        numbers, low, high = column.cast(pa.int64()), MIN_MICROS, MAX_MICROS
    else:
        numbers, low, high = column.cast(pa.int32()).cast(pa.int64()), MIN_DAYS, MAX_DAYS
    low_high = pc.min_max(numbers)
    smallest, largest = low_high["min"].as_py(), low_high["max"].as_py()
    if smallest is None or (smallest >= low and largest <= high):
        return None
    mask = pc.or_(pc.less(numbers, low), pc.greater(numbers, high))
    return pc.fill_null(mask, False)


def find_rejects(
    table: pa.Table, fields: t.Mapping[str, FieldType], non_null: t.Sequence[str]
) -> list[Reject]:
    """Rows with a null in a non-null column or an instant outside the readable range."""
    out: list[Reject] = []
    for name in non_null:
        if name not in table.column_names:
            continue
        column = table.column(name)
        if column.null_count:
            rows = pc.indices_nonzero(pc.is_null(column)).to_pylist()
            out.extend(Reject(r, name, "null in a column declared non-null") for r in rows)
    for name, field in fields.items():
        if field.temporal is None or name not in table.column_names:
            continue
        mask = _out_of_range(table.column(name), field.temporal)
        if mask is not None:
            rows = pc.indices_nonzero(mask).to_pylist()
            out.extend(Reject(r, name, f"{field.temporal} outside {RANGE}") for r in rows)
    return out


def _raw_record(line: bytes) -> dict:
    message = json_decoder.decode(line)
    record = message.get("record") if isinstance(message, dict) else None
    return record if isinstance(record, dict) else {}


def _short(text: str | None) -> str:
    if text is None:
        return "null"
    return text if len(text) <= 80 else text[:77] + "..."


def lines_of(data: bytes | bytearray) -> list[bytes]:
    """The RECORD message lines of a buffer (row i is line i)."""
    return [line for line in bytes(data).split(b"\n") if line.strip()]


def failure(stream: str, rejects: t.Sequence[Reject], lines: t.Sequence[bytes]) -> DataError:
    """The one line a problem fails the stream with (naming stream, column and value)."""
    reject = rejects[0]
    value = json_text(_raw_record(lines[reject.row]).get(reject.column))
    total = len({r.row for r in rejects})
    others = f"; {total} row(s) of this batch are affected" if total > 1 else ""
    msg = (
        f"stream '{stream}', column '{reject.column}': {reject.reason} (value {_short(value)})"
        f"{others}; set on_schema_violation to quarantine to land the other rows"
    )
    return DataError(msg)


def split(
    table: pa.Table,
    rejects: t.Sequence[Reject],
    lines: t.Sequence[bytes],
    *,
    stream: str,
    run_id: str,
) -> tuple[pa.Table, pa.Table]:
    """(rows that land, rejected rows as ``REJECTED_SCHEMA``); one reject per row."""
    first: dict[int, Reject] = {}
    for reject in rejects:
        first.setdefault(reject.row, reject)
    keep = pa.array([i not in first for i in range(table.num_rows)], pa.bool_())
    rows = sorted(first)
    records = [_raw_record(lines[r]) for r in rows]
    now = dt.datetime.now(dt.UTC)
    rejected = pa.table(
        {
            "stream": [stream] * len(rows),
            "column": [first[r].column for r in rows],
            "reason": [first[r].reason for r in rows],
            "raw_value": [
                json_text(rec.get(first[r].column)) for r, rec in zip(rows, records, strict=True)
            ],
            "record": [json_text(rec) for rec in records],
            "_run_id": [run_id] * len(rows),
            "_rejected_at": [now] * len(rows),
        },
        schema=REJECTED_SCHEMA,
    )
    return table.filter(keep), rejected
