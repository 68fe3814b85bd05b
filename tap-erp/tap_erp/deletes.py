"""Rows deleted in the ERP, as records with the key and `_sdc_deleted_at`.

Each stream with `deletes` in its profile reads them before any stream sends a row
(a missing endpoint fails the run before anything lands), sends them after its own
rows, and only then moves its `deletes` state:

- tombstones: the keys the ERP lists as deleted since the newest deletion time read
  before (state `deletes.since`);
- key snapshot: every key the ERP has now, compared with the keys seen before (every
  key sent, less those found deleted, kept compact in `deletes.keys`, see `key_sets`);
  taken every `key_snapshot_every_runs` runs, never on a stream's first run (it has
  seen nothing yet; the keys it sends are the keys seen). Keys read by position
  (offset or page paging) can be skipped when rows are deleted while paging, so a key
  counts as deleted only when a second read of the keys lacks it too.

A delete record has every property of the stream: the key, the replication key and
`_sdc_deleted_at` set to the deletion time (the snapshot's time for key snapshots),
the rest null. With the replication key at the deletion time, a loader that keeps
each key's newest version (target-s3's Delta tables) applies the delete last.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import typing as t

from tap_erp.delete_specs import KeySnapshotSpec, TombstoneSpec
from tap_erp.dialect import spec, timestamps
from tap_erp.dialect.selectors import NOTHING
from tap_erp.errors import HTTPStatusError, TapERPError
from tap_erp.key_sets import decode_keys, encode_keys
from tap_erp.paging import format_timestamp, make_pager

if t.TYPE_CHECKING:
    from collections.abc import Hashable, Sequence

    from tap_erp.client import Runtime
    from tap_erp.delete_specs import DeletesSpec
    from tap_erp.paging import Pager, Rows

LOGGER = logging.getLogger("tap-erp.deletes")

DELETED = "_sdc_deleted_at"
STATE_KEY = "deletes"
DELETED_PROPERTY = {"type": ["string", "null"], "format": "date-time"}
#: Statuses that say the ERP has no such endpoint.
MISSING_ENDPOINT = frozenset({404, 405, 501})


def with_deleted_property(schema: dict, primary_keys: Sequence[str]) -> dict:
    """The schema with `_sdc_deleted_at`, every non-key property nullable (delete records
    carry only the key, the replication key and the deletion time)."""
    properties = {}
    for name, prop in schema.get("properties", {}).items():
        types = prop.get("type") if isinstance(prop, dict) else None
        if name not in primary_keys and types is not None:
            listed = [types] if isinstance(types, str) else list(types)
            if "null" not in listed:
                properties[name] = {**prop, "type": [*listed, "null"]}
                continue
        properties[name] = prop
    properties[DELETED] = DELETED_PROPERTY
    return {**schema, "properties": properties}


def _hashable(key: t.Any) -> Hashable:
    return tuple(key) if isinstance(key, list) else key


def _instant(value: t.Any, where: str) -> datetime.datetime:
    """A deletion time (ISO 8601; naive text in the site's time zone) as UTC."""
    try:
        parsed = datetime.datetime.fromisoformat(str(value))
    except ValueError:
        msg = f"'{where}': {value!r} is not an ISO 8601 date-time"
        raise TapERPError(msg) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timestamps.site_timezone())
    return parsed.astimezone(datetime.UTC)


@dataclasses.dataclass
class StreamDeletes:
    """One stream's deletes: read once, sent after its rows, then remembered."""

    stream: str
    spec: DeletesSpec
    runtime: Runtime
    primary_keys: tuple[str, ...]
    replication_key: str | None
    #: The stream's paginator (key snapshots without one of their own).
    style: str
    every_runs: int = 1
    #: Deleted keys and their deletion times, once read.
    found: dict[Hashable, datetime.datetime] | None = None
    #: The stream's `deletes` state once the found deletes are sent.
    next_state: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    #: Keys of rows sent this run (key snapshots only).
    sent: set[Hashable] = dataclasses.field(default_factory=set)
    #: Keys known to exist before this run's rows (key snapshots only).
    kept: set[Hashable] = dataclasses.field(default_factory=set)

    @property
    def tracks_keys(self) -> bool:
        """Whether the keys of sent rows must be remembered."""
        return isinstance(self.spec, KeySnapshotSpec)

    def _pager(self, request: t.Any, records: t.Any, style: str) -> Pager:
        runtime = self.runtime
        return make_pager(
            runtime.profile.styles.get(style) or spec.SinglePaginator(),
            http=runtime.http,
            request=request,
            paginator_query=runtime.profile.paginator_queries.get(style, {}),
            records=records,
            page_size=runtime.page_size,
            values={"config": runtime.config, "fields": list(self.primary_keys)},
        )

    def _key(self, row: dict, where: str) -> Hashable:
        values = []
        for name, selector in self.spec.keys:
            value = selector.find(row)
            if value is NOTHING or value is None:
                msg = (
                    f"stream '{self.stream}': a row of '{where}' has no key field '{name}' "
                    f"({selector.describe_miss(row)})"
                )
                raise TapERPError(msg)
            values.append(value)
        return values[0] if len(values) == 1 else tuple(values)

    def _pages(self, pager: Pager, filters: dict[str, t.Any]) -> t.Iterator[Rows]:
        """The pages, a missing endpoint reported as one line naming the profile key."""
        try:
            yield from pager.pages(filters)
        except HTTPStatusError as exc:
            if exc.status not in MISSING_ENDPOINT:
                raise
            msg = (
                f"stream '{self.stream}': the ERP has no endpoint for the profile key "
                f"'{self.spec.where}' of profile '{self.runtime.profile.name}' ({exc}); "
                "fix or remove it (nothing was extracted)"
            )
            raise TapERPError(msg) from None

    # Reading

    def read(self, state: dict[str, t.Any] | None) -> None:
        """Ask the ERP which rows are gone (before any row of the run is sent)."""
        state = state or {}
        if isinstance(self.spec, TombstoneSpec):
            self._read_tombstones(self.spec, state)
        else:
            self._read_snapshot(self.spec, state)

    def _read_tombstones(self, spec_: TombstoneSpec, state: dict[str, t.Any]) -> None:
        since = state.get("since")
        start = _instant(since, f"state {self.stream}.deletes.since") if since else None
        start = start or self.runtime.start_date
        sent_before = {_hashable(k) for k in state.get("keys_at_since") or []}
        found: dict[Hashable, datetime.datetime] = {}
        pager = self._pager(spec_.request, spec_.records, spec_.paginator)
        for rows in self._pages(pager, {"since": start} if start else {}):
            for row in rows:
                at = spec_.deleted_at.find(row)
                when = _instant(at, f"{spec_.where}.deleted_at")
                key = self._key(row, spec_.where)
                if when == start and key in sent_before:
                    continue  # sent by the run that read up to `since`
                found[key] = max(when, found.get(key, when))
        self.found = found
        newest = max(found.values(), default=start)
        if newest is None:
            self.next_state = {}
            return
        at_newest = [k for k, when in found.items() if when == newest]
        if newest == start:
            at_newest += sent_before
        self.next_state = {
            "since": format_timestamp(newest),
            "keys_at_since": [list(k) if isinstance(k, tuple) else k for k in at_newest],
        }

    def _snapshot(self, spec_: KeySnapshotSpec) -> set[Hashable]:
        pager = self._pager(spec_.request, spec_.records, spec_.paginator or self.style)
        return {self._key(row, spec_.where) for rows in self._pages(pager, {}) for row in rows}

    def _read_snapshot(self, spec_: KeySnapshotSpec, state: dict[str, t.Any]) -> None:
        stored = state.get("keys")
        runs = int(state.get("runs_since_snapshot") or 0)
        self.found = {}
        if not stored:  # the first run: the keys it sends are the keys seen
            self.next_state = {"runs_since_snapshot": 0}
            return
        seen = decode_keys(stored, f"stream '{self.stream}' deletes.keys")
        if runs + 1 < self.every_runs:
            self.next_state = {"runs_since_snapshot": runs + 1}
            self.kept = seen
            return
        taken = self.runtime.now()
        current = self._snapshot(spec_)
        gone = seen - current
        if gone:
            gone -= self._snapshot(spec_)  # a key skipped while rows shifted is back
        self.found = dict.fromkeys(gone, taken)
        self.next_state = {"runs_since_snapshot": 0}
        self.kept = seen - gone
        LOGGER.info(
            "'%s': key snapshot of %d keys, %d of the %d seen before deleted",
            self.stream,
            len(current),
            len(gone),
            len(seen),
        )

    # Sending

    def records(self, properties: t.Iterable[str]) -> list[dict]:
        """The delete records, in key order."""
        found = self.found or {}
        names = list(properties)
        rows = []
        try:
            keys = sorted(found)
        except TypeError:  # keys of mixed types
            keys = sorted(found, key=repr)
        for key in keys:
            row = dict.fromkeys(names)
            values = key if isinstance(key, tuple) else (key,)
            row.update(zip(self.primary_keys, values, strict=True))
            at = format_timestamp(found[key])
            if self.replication_key:
                row[self.replication_key] = at
            row[DELETED] = at
            rows.append(row)
        return rows

    def commit(self, state: dict[str, t.Any]) -> None:
        """Remember what was read, once the delete records are sent."""
        new = dict(self.next_state)
        if self.tracks_keys:
            keys = self.kept | self.sent
            new["keys"] = encode_keys(keys)
        state[STATE_KEY] = new
