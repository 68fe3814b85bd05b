"""The schema contract of each stream: the column types its table has promised readers.

Stored at ``{prefix}/{client}/_schema/{stream}.json`` (outside the stream's data
tree): one Arrow type and a nullability per column, the key properties, and the
changes made so far. A new schema version of a stream is compared with it:

* a new column, or a type that ``widening.join`` can widen (int64 → decimal, a larger
  precision or scale holding every old value) **evolves** the contract: the change is
  logged, listed in the run audit and written to the contract before the first file
  of that version is published (so the contract is never behind the data; it only
  ever widens, so a batch rolled back after it leaves nothing inconsistent);
* a narrower type than the contract's (decimal(10,2) after decimal(12,2)) is written
  as the contract's type, so every new file agrees;
* anything else (decimal → string, a key column's type changing) is a **violation**:
  the stream fails with one line naming stream, column, old and new type, or, with
  ``on_schema_violation: quarantine``, the column keeps its contract type and values
  that do not convert losslessly go to ``_rejected/`` (``quarantine``).
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import typing as t
from dataclasses import dataclass, field

import pyarrow as pa

from target_s3.errors import DataError
from target_s3.layout import join_key, safe_segment
from target_s3.widening import join

if t.TYPE_CHECKING:
    from target_s3.layout import Layout
    from target_s3.storage import Storage

logger = logging.getLogger("target-s3")

CONTRACT_FOLDER = "_schema"
KEPT_CHANGES = 200  # changes kept in the contract document (newest last)


def contract_key(layout: Layout, stream: str) -> str:
    """Where a stream's contract lives."""
    return join_key(layout.prefix, layout.client, CONTRACT_FOLDER, f"{safe_segment(stream)}.json")


def _encode(types: t.Mapping[str, pa.DataType]) -> str:
    schema = pa.schema([pa.field(n, k) for n, k in types.items()])
    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def _decode(text: str) -> dict[str, pa.DataType]:
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))
    return {f.name: f.type for f in schema}


@dataclass
class Resolution:
    """A schema version measured against its stream's contract."""

    stream: str
    key: str
    types: dict[str, pa.DataType]  # the contract after this version (evolved)
    non_null: list[str]
    key_properties: list[str]
    write_types: dict[str, pa.DataType] = field(default_factory=dict)  # columns to write as
    changes: list[dict] = field(default_factory=list)  # additive changes (evolutions)
    violations: list[dict] = field(default_factory=list)  # incompatible changes
    history: list[dict] = field(default_factory=list)  # changes already in the contract
    needs_write: bool = False

    def violation_error(self) -> DataError:
        """The one line a violation fails the stream with."""
        v = self.violations[0]
        more = f" (and {len(self.violations) - 1} more)" if len(self.violations) > 1 else ""
        msg = (
            f"stream '{self.stream}', column '{v['column']}': {v['change']} from {v['old']} to "
            f"{v['new']} breaks the table's schema contract s3 key '{self.key}'{more}; "
            "set on_schema_violation to quarantine to land the values that still fit"
        )
        return DataError(msg)

    def document(self, run_id: str) -> dict:
        """The contract as stored."""
        nullable = set(self.non_null)
        now = dt.datetime.now(dt.UTC).isoformat()
        changes = [{"at": now, "run_id": run_id, **c} for c in self.changes]
        return {
            "stream": self.stream,
            "key_properties": self.key_properties,
            "columns": {
                n: {"type": str(k), "nullable": n not in nullable} for n, k in self.types.items()
            },
            "arrow_schema": _encode(self.types),
            "updated_at": now,
            "run_id": run_id,
            "changes": (self.history + changes)[-KEPT_CHANGES:],
        }


def resolve(
    stream: str,
    key: str,
    columns: t.Mapping[str, pa.DataType],
    *,
    non_null: t.Sequence[str],
    key_properties: t.Sequence[str],
    stored: dict | None,
) -> Resolution:
    """Compare a schema version (its column types) with the stored contract."""
    old = _decode(stored["arrow_schema"]) if stored and stored.get("arrow_schema") else None
    res = Resolution(stream, key, dict(old or {}), list(non_null), list(key_properties))
    if old is None:
        res.types = dict(columns)
        res.needs_write = True
        return res
    res.history = list(stored.get("changes") or []) if stored else []
    old_keys = list(stored.get("key_properties") or []) if stored else []
    for name, new in columns.items():
        before = old.get(name)
        if before is None:
            res.types[name] = new
            res.changes.append({"column": name, "change": "added", "old": None, "new": str(new)})
            continue
        if before.equals(new):
            continue
        joined = join(before, new)
        is_key = name in key_properties or name in old_keys
        if joined is None or is_key:
            what = "key column type changed" if is_key else "type changed"
            res.violations.append(
                {"column": name, "change": what, "old": str(before), "new": str(new)}
            )
            res.write_types[name] = before
            continue
        if not joined.equals(before):
            res.types[name] = joined
            change = {"column": name, "change": "widened", "old": str(before), "new": str(joined)}
            res.changes.append(change)
        if not joined.equals(new):
            res.write_types[name] = joined
    old_nullable = {n for n, c in (stored or {}).get("columns", {}).items() if c.get("nullable")}
    for name in non_null:
        if name in old and name in old_nullable:
            res.changes.append({"column": name, "change": "now non-null", "old": None, "new": None})
    res.needs_write = bool(res.changes) or list(key_properties) != old_keys
    return res


class Contracts:
    """The contracts of one run's streams: read once, written before the data they allow."""

    def __init__(self, storage: Storage, layout: Layout) -> None:
        """Nothing is read until a stream's schema arrives."""
        self.storage = storage
        self.layout = layout
        self.changes: dict[str, list[dict]] = {}  # stream -> changes written by this run

    def key(self, stream: str) -> str:
        """Where one stream's contract lives."""
        return contract_key(self.layout, stream)

    def resolve(
        self,
        stream: str,
        columns: t.Mapping[str, pa.DataType],
        *,
        non_null: t.Sequence[str],
        key_properties: t.Sequence[str],
    ) -> Resolution:
        """Measure a stream's schema version against its stored contract; log changes."""
        key = contract_key(self.layout, stream)
        stored = self.storage.get_json(key)
        res = resolve(
            stream,
            key,
            columns,
            non_null=non_null,
            key_properties=key_properties,
            stored=stored,
        )
        for change in res.changes:
            logger.warning(
                "Stream '%s': schema evolves: column '%s' %s%s",
                stream,
                change["column"],
                change["change"],
                f" ({change['old']} -> {change['new']})" if change["old"] else "",
            )
        return res

    def write(self, res: Resolution) -> None:
        """Store the evolved contract (once per resolution, before its first file)."""
        if not res.needs_write:
            return
        self.storage.put_json(res.key, res.document(self.layout.run_id))
        res.needs_write = False
        self.changes.setdefault(res.stream, []).extend(res.changes)
