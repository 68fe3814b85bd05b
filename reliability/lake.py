"""What landed against what the sandbox holds: lost, duplicated, state ahead."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, fields

from erp_quality.lake import Lake
from erp_sandbox.testing import SandboxServer
from erp_testing.project import STREAMS
from erp_testing.standard_model import KEYS

SNAPSHOT_STREAMS = frozenset({"inventory"})  # landed whole by every run
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

Row = tuple[tuple, int, str]  # key, updated_at (µs), run id


def micros(value: str | dt.datetime) -> int:
    """Microseconds since the epoch of an ISO 8601 timestamp with offset."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (value - EPOCH) // dt.timedelta(microseconds=1)


@dataclass
class Tally:
    """Counts of one trial (or of a row of the matrix: summed over its trials)."""

    trials: int = 0
    expected: int = 0
    landed: int = 0
    lost: int = 0
    duplicated: int = 0  # rows beyond one per (key, updated_at) (+ run for snapshots)
    extra_versions: int = 0  # rows beyond one per key (older versions are legitimate)
    phantom: int = 0  # keys landed that the source does not have
    quarantined: int = 0  # source rows whose current version is in `_rejected/` instead
    state_ahead: int = 0  # trials whose saved state covered rows not landed
    silent: int = 0  # trials whose faulted run exited 0 where it had to fail
    unclear: int = 0  # trials whose failure was not one clear line (or showed a secret)
    failed_runs: int = 0  # runs that had to succeed (every rerun) but did not
    notes: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for f in fields(self):
            if f.name != "notes":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.notes += other.notes

    @property
    def passed(self) -> bool:
        return self.trials > 0 and not (
            self.lost
            or self.duplicated
            or self.phantom
            or self.state_ahead
            or self.silent
            or self.unclear
            or self.failed_runs
            or self.landed + self.quarantined < self.expected
        )


def source_versions(erp: SandboxServer, tenant: str, stream: str) -> dict[tuple, int]:
    """Primary key -> ModifiedOn (µs) of every current source row."""
    native, _ = KEYS[stream]
    return {
        tuple(r[k] for k in native): micros(r["ModifiedOn"]) for r in erp.records(tenant, stream)
    }


def landed_rows(lake: Lake, stream: str) -> list[Row]:
    """(key, updated_at µs, run id) of every landed row of a stream."""
    if not any(k.endswith(".parquet") for k in lake.keys(f"{stream}/")):
        return []
    _, std = KEYS[stream]
    sql = f"SELECT {', '.join(std)}, epoch_us(updated_at), _run_id FROM {lake.table(stream)}"
    n = len(std)
    return [(tuple(r[:n]), r[n], r[n + 1]) for r in lake.query(sql)]


def rejected_keys(lake: Lake, stream: str) -> set[tuple]:
    """Keys of the rows of a stream quarantined to `_rejected/` (their JSON `record`)."""
    folder = f"_rejected/{stream}"
    if not any(k.endswith(".parquet") for k in lake.keys(f"{folder}/")):
        return set()
    _, std = KEYS[stream]
    glob = f"s3://{lake.config.bucket}/{lake.config.root}/{folder}/**/*.parquet"
    records = lake.query(f"SELECT record FROM read_parquet('{glob}', union_by_name = true)")
    return {tuple(json.loads(r)[k] for k in std) for (r,) in records}


def newest(rows: list[Row]) -> dict[tuple, int]:
    """Each key's newest landed version."""
    out: dict[tuple, int] = {}
    for key, ts, _ in rows:
        if ts > out.get(key, -1):
            out[key] = ts
    return out


def compare(lake: Lake, erp: SandboxServer, tenant: str) -> Tally:
    """The lake against the source, every stream."""
    tally = Tally()
    for stream in STREAMS:
        source = source_versions(erp, tenant, stream)
        rows = landed_rows(lake, stream)
        latest = newest(rows)
        tally.expected += len(source)
        tally.landed += len(latest.keys() & source.keys())
        unlanded = [k for k, ts in source.items() if latest.get(k, -1) < ts]
        held = rejected_keys(lake, stream)
        lost = [k for k in unlanded if k not in held]
        tally.quarantined += len(unlanded) - len(lost)
        tally.lost += len(lost)
        if lost:
            tally.notes.append(f"{stream}: lost {len(lost)} e.g. {lost[:3]}")
        if stream in SNAPSHOT_STREAMS:
            versions = {(k, ts, run) for k, ts, run in rows}
            per_key = {(k, run) for k, _, run in rows}
        else:
            versions = {(k, ts) for k, ts, _ in rows}
            per_key = {k for k, _, _ in rows}
        dups = len(rows) - len(versions)
        tally.duplicated += dups
        if dups:
            tally.notes.append(f"{stream}: {dups} duplicate rows")
        tally.extra_versions += len(rows) - len(per_key)
        phantom = latest.keys() - source.keys()
        tally.phantom += len(phantom)
        if phantom:
            tally.notes.append(f"{stream}: {len(phantom)} keys not in the source")
    return tally


def state_ahead(state: dict | None, lake: Lake, erp: SandboxServer, tenant: str) -> list[str]:
    """Rows the saved state claims done that are not in the lake (empty: state ok).

    Rows quarantined to `_rejected/` are accounted for. A row is covered by a stream's
    bookmark when its ModifiedOn is before the
    bookmark, or equal to it with its key in `bookmark_keys`.
    """
    bookmarks = ((state or {}).get("singer_state") or {}).get("bookmarks") or {}
    problems = []
    for stream, mark in bookmarks.items():
        value = mark.get("replication_key_value") if isinstance(mark, dict) else None
        if not value or stream not in KEYS:
            continue
        at = micros(str(value))
        keys_at = {
            tuple(k) if isinstance(k, list) else (k,) for k in mark.get("bookmark_keys") or []
        }
        latest = newest(landed_rows(lake, stream))
        held = rejected_keys(lake, stream)  # quarantined: accounted for, not lost
        missing = [
            k
            for k, ts in source_versions(erp, tenant, stream).items()
            if (ts < at or (ts == at and k in keys_at)) and latest.get(k, -1) < ts and k not in held
        ]
        if missing:
            problems.append(f"{stream}: bookmark {value} covers {len(missing)} unlanded rows")
    return problems
