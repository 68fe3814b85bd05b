"""The shared ERP stream: paging, incremental bookmarks with tie keys, windows."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import functools
import typing as t

import pendulum
from singer_sdk.contrib.msgspec import encoder
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage
from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL
from singer_sdk.streams import Stream

from tap_erp.batches import local_root, sweep_stale, wait_until_taken, write_batches
from tap_erp.dialect.decoders import chain
from tap_erp.fast_maps import encodable_transform, is_plain
from tap_erp.paging import (
    IncrementalReader,
    KeysetPosition,
    Pager,
    format_timestamp,
    full_table_pages,
    make_pager,
    parse_timestamp,
)
from tap_erp.writer import BufferedMsgSpecWriter

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from singer_sdk.helpers import types
    from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig
    from singer_sdk.tap_base import Tap

    from tap_erp.http import HttpClient
    from tap_erp.paging import Rows
    from tap_erp.profiles import Profile, RecordsSelector, RequestTemplate, StreamSpec

#: State key holding the keys emitted at exactly ``replication_key_value``.
BOOKMARK_KEYS = "bookmark_keys"

WINDOWS = ("none", "day", "week", "month")


@dataclasses.dataclass
class Runtime:
    """What every stream of one tap run shares."""

    profile: Profile
    http: HttpClient
    pagination_style: str
    page_size: int
    start_date: datetime.datetime | None
    lookback_seconds: float
    backfill_window: str
    #: Settings templates read as `{config.<name>}` (secrets included; never logged).
    config: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC)


def add_window(start: datetime.datetime, unit: str) -> datetime.datetime:
    """``start`` plus one window (calendar months via pendulum)."""
    if unit == "day":
        return start + datetime.timedelta(days=1)
    if unit == "week":
        return start + datetime.timedelta(days=7)
    if unit == "month":
        moved = pendulum.instance(start).add(months=1)
        return datetime.datetime.fromisoformat(moved.isoformat())
    msg = f"unknown window {unit!r}"
    raise ValueError(msg)


def backfill_windows(
    start: datetime.datetime, unit: str, now: datetime.datetime
) -> list[tuple[datetime.datetime, datetime.datetime | None]]:
    """``[start, +unit)`` windows up to now; the last one is open-ended."""
    windows: list[tuple[datetime.datetime, datetime.datetime | None]] = []
    low = start
    while True:
        high = add_window(low, unit)
        if high > now:
            windows.append((low, None))
            return windows
        windows.append((low, high))
        low = high


class NewestTieGroup:
    """The records of the newest replication-key value, kept until `settle`.

    Records arrive ordered by (replication key, primary key), so advancing the
    bookmark with only the last tie group gives the same state as advancing it
    record by record, at a fraction of the cost.
    """

    def __init__(self, stream: ERPStream, context: types.Context | None) -> None:
        """Track `stream`'s replication key."""
        self.stream = stream
        self.context = context
        self.key = stream.replication_key
        self.value: t.Any = None
        self.records: list[dict] = []

    def add_rows(self, records: list[dict]) -> None:
        """Remember records that are now in a batch file (in replication-key order)."""
        key = self.key
        if key is None or not records:
            return
        value = records[-1][key]
        start = len(records) - 1
        while start and records[start - 1][key] == value:
            start -= 1
        if start == 0 and value == self.value:
            self.records.extend(records)
        else:
            self.value = value
            self.records = records[start:]

    def settle(self) -> None:
        """Advance the stream's bookmark over the remembered records."""
        for record in self.records:
            self.stream._increment_stream_state(record, context=self.context)
        self.records = []


class ERPStream(Stream):
    """One ERP entity, described by its entry in the tap's profile."""

    #: Name of the entity's entry under ``streams:`` in the profile.
    entity: t.ClassVar[str]

    # The API's JSON types already match the schemas (numbers, strings, booleans);
    # per-record conforming would only cost time.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, runtime: Runtime, schema: dict) -> None:
        """Create the stream from its profile entry."""
        self.runtime = runtime
        self.spec: StreamSpec = runtime.profile.streams[self.entity]
        super().__init__(tap=tap, schema=schema, name=self.name)
        self.primary_keys = list(self.spec.primary_keys)
        self.replication_key = self.spec.replication_key
        self._page_time = datetime.datetime.now(datetime.UTC)
        self._keys_value: str | None = None
        self._keys_seen: set = set()
        self._tail_key: tuple | None = None
        self._tail = b""

    @property
    def is_sorted(self) -> bool:
        """Rows come ordered by (replication key, primary key): resumable state."""
        return self.replication_key is not None

    def get_replication_key_signpost(self, context: types.Context | None) -> None:
        """No signpost: the bookmark is the last emitted timestamp, nothing else."""
        return

    # State

    def _state_key(self, record: dict) -> t.Any:
        if len(self.primary_keys) == 1:
            return record[self.primary_keys[0]]
        return [record[k] for k in self.primary_keys]

    @staticmethod
    def _hashable(key: t.Any) -> t.Any:
        return tuple(key) if isinstance(key, list) else key

    def _increment_stream_state(
        self, latest_record: types.Record, *, context: types.Context | None = None
    ) -> None:
        """Advance ``replication_key_value`` and ``bookmark_keys`` after a record is written.

        The bookmark only moves forward (rows re-read through ``lookback_seconds``
        leave it alone); ``bookmark_keys`` lists the keys emitted at exactly the
        bookmark, so the next sync skips them. Values are canonical UTC text, whose
        order is the order of the instants.
        """
        rk = self.replication_key
        if self.replication_method != REPLICATION_INCREMENTAL or not rk:
            return
        state = self.get_context_state(context)
        value = latest_record[rk]
        current = state.get("replication_key_value")
        key = self._state_key(latest_record)
        if current is not None and state.get("replication_key") == rk:
            if value < current:
                return
            if value == current:
                if self._keys_value != current:
                    keys = state.setdefault(BOOKMARK_KEYS, [])
                    self._keys_seen = {self._hashable(k) for k in keys}
                    self._keys_value = current
                hashable = self._hashable(key)
                if hashable not in self._keys_seen:
                    self._keys_seen.add(hashable)
                    state[BOOKMARK_KEYS].append(key)
                return
        state["replication_key"] = rk
        state["replication_key_value"] = value
        state[BOOKMARK_KEYS] = [key]
        self._keys_value = value
        self._keys_seen = {self._hashable(key)}

    # Records

    @functools.cached_property
    def _everything_selected(self) -> bool:
        """Whether every property is selected (then no record needs pruning)."""
        mask = self.mask
        return all(
            mask[("properties", name)] for name in self.schema.get("properties", {})
        ) and not any(
            isinstance(prop, dict) and "properties" in prop
            for prop in self.schema.get("properties", {}).values()
        )

    def _generate_record_messages(self, record: types.Record) -> Iterator[RecordMessage]:
        """The SDK's RECORD messages, without its per-record work that changes nothing.

        Types already match the schema (no conforming); with every property
        selected nothing is pruned; `time_extracted` is the arrival of the record's
        page, taken once per page.
        """
        if not self._everything_selected:
            pop_deselected_record_properties(record, self.schema, self.mask)
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=self._page_time,
                )

    @functools.cached_property
    def _record_line_map(self) -> Callable[[dict], t.Any] | None:
        """The map of RECORD messages written as bytes, or None for the SDK's path.

        That is one plain map (renames only, no flattening), every property
        selected, and the tap's own buffered writer: then a RECORD line is its
        envelope around the encoded mapped record, the same JSON as the SDK's.
        """
        maps = self.stream_maps
        writer = getattr(self._tap, "message_writer", None)
        if len(maps) != 1 or not is_plain(maps[0]) or not self._everything_selected:
            return None
        if not isinstance(writer, BufferedMsgSpecWriter):
            return None
        return encodable_transform(maps[0])

    def _write_record_message(self, record: types.Record) -> None:
        """A RECORD message, written straight into the tap's buffer when it can be."""
        transform = self._record_line_map
        if transform is None:
            super()._write_record_message(record)
            return
        mapped = transform(record)
        if mapped is not None:
            writer = t.cast("BufferedMsgSpecWriter", self._tap.message_writer)
            writer.write_record(self._record_head, mapped, self._record_tail())
        self.state_manager.is_flushed = False

    @functools.cached_property
    def _record_head(self) -> bytes:
        alias = self.stream_maps[0].stream_alias
        return b'{"type":"RECORD","stream":' + encoder.encode(alias) + b',"record":'

    def _record_tail(self) -> bytes:
        """``version`` and ``time_extracted`` (the page's arrival), as the SDK writes them."""
        key = (self._page_time, self._stream_version)
        if self._tail_key != key:
            version = b"" if key[1] is None else b',"version":' + encoder.encode(key[1])
            self._tail = version + b',"time_extracted":' + encoder.encode(key[0]) + b"}\n"
            self._tail_key = key
        return self._tail

    # Batches

    def get_batch_config(self, config: t.Mapping) -> BatchConfig | None:
        """`batch_config`, unless a stream map needs RECORD messages (expressions, aliases)."""
        batch_config = super().get_batch_config(config)
        if batch_config is None or not config.get("batch_messages", True):
            return None
        maps = self.stream_maps
        if len(maps) != 1 or not is_plain(maps[0]) or maps[0].stream_alias != self.name:
            self.logger.info(
                "'%s': its stream maps evaluate expressions; sending RECORD messages", self.name
            )
            return None
        return batch_config

    @property
    def _batch_wait_seconds(self) -> float:
        """How long a batch file may wait for the loader (setting batch_wait_seconds)."""
        return float(self.config.get("batch_wait_seconds") or 600)

    def _sync_batches(
        self, batch_config: BatchConfig, context: types.Context | None = None
    ) -> None:
        """BATCH messages; each one's STATE only after the loader has taken its files.

        A loader that reads BATCH files removes them once read (target-s3 does). The
        STATE covering a batch is written when its files are gone, and before the next
        BATCH message (a STATE covers every record sent before it), while the next
        file has been written meanwhile. A loader that ignores BATCH
        messages never takes the files: the sync then fails after
        `batch_wait_seconds` instead of moving the bookmark past records that did
        not land.
        """
        wait = self._batch_wait_seconds
        pending: tuple[list[str], dict] | None = None
        with self.get_batch_counter() as counter:
            for encoding, manifest in self.get_batches(batch_config, context):
                counter.increment()
                snapshot = copy.deepcopy(self.tap_state)
                # A STATE covers everything sent before it: the previous batch's STATE
                # goes out before this BATCH message (whose file is already written).
                if pending is not None:
                    self._state_when_taken(*pending, wait=wait)
                self._write_batch_message(encoding=encoding, manifest=manifest)
                pending = (manifest, snapshot)
            if pending is not None:
                self._state_when_taken(*pending, wait=wait)

    def _state_when_taken(self, manifest: list[str], state: dict, *, wait: float) -> None:
        """Write `state` once every file of `manifest` is gone (taken by the loader)."""
        wait_until_taken(manifest, wait)
        self._tap.state_writer.write_state(state)
        self.state_manager.is_flushed = True

    def get_batches(
        self, batch_config: BatchConfig, context: types.Context | None = None
    ) -> Iterator[tuple[BaseBatchFileEncoding, list[str]]]:
        """Mapped records in JSON-lines files; the bookmark follows the written records."""
        map_record = encodable_transform(self.stream_maps[0])
        transform = map_record
        if not self._everything_selected:

            def transform(record: dict) -> dict | None:
                pop_deselected_record_properties(record, self.schema, self.mask)
                return map_record(record)

        newest = NewestTieGroup(self, context)

        stale = max(3600.0, 2 * self._batch_wait_seconds)
        removed = sweep_stale(local_root(batch_config), stale)
        if removed:
            self.logger.info("Removed %d batch file(s) left by interrupted runs", removed)
        files = 0
        for encoding, manifest in write_batches(
            self.get_record_pages(context),
            transform,
            batch_config,
            self.name,
            after_rows=newest.add_rows,
            before_yield=newest.settle,
        ):
            files += 1
            yield encoding, manifest
        self.logger.info("'%s': %d batch file(s) written", self.name, files)

    def _page_hook(self) -> Callable[[Rows], Rows]:
        """Decode ERP values, then drop fields the schema does not know (e.g. custom
        fields of a static schema)."""
        known = frozenset(self.effective_schema.get("properties", {}))
        decode = chain(self.spec.decoders, self.effective_schema)
        warned: set[str] = set()

        def strip_unknown(rows: Rows) -> Rows:
            self._page_time = datetime.datetime.now(datetime.UTC)
            if not rows:
                return rows
            if decode is not None:
                rows = decode(rows)
            extra = (rows[0].keys() | rows[-1].keys()) - known
            if extra:
                if extra - warned:
                    warned.update(extra)
                    self.logger.warning(
                        "'%s': the ERP sends fields the catalog does not have, not "
                        "extracted: %s (run discovery to add them)",
                        self.name,
                        ", ".join(sorted(extra)),
                    )
                for row in rows:
                    for name in extra:
                        row.pop(name, None)
            return rows

        return strip_unknown

    @functools.cached_property
    def _selected_fields(self) -> list[str]:
        """The ERP fields to ask for (`{fields}`): selected, and not added by the tap."""
        spec = self.spec
        added = {name for name, _ in spec.records.inherit}
        if spec.parent is not None:
            added |= {name for name, _ in spec.parent.fields}
        return [
            name
            for name in self.schema.get("properties", {})
            if name not in added and self.mask.get(("properties", name), True)
        ]

    def _pager(
        self,
        request: RequestTemplate,
        records: RecordsSelector,
        paginator_name: str,
        parent: dict | None = None,
    ) -> Pager:
        runtime = self.runtime
        profile = runtime.profile
        add = {}
        if parent is not None and self.spec.parent is not None:
            add = {name: parent.get(field) for name, field in self.spec.parent.fields}
        return make_pager(
            profile.styles[paginator_name],
            http=runtime.http,
            request=request,
            paginator_query=profile.paginator_queries[paginator_name],
            records=records,
            page_size=runtime.page_size,
            values={"config": runtime.config, "fields": self._selected_fields, "parent": parent},
            add_fields=add,
        )

    def _pagers(self) -> Iterator[Pager]:
        """The stream's pager, or one per row of its parent request."""
        spec = self.spec
        style = spec.paginator or self.runtime.pagination_style
        if spec.parent is None:
            yield self._pager(spec.request, spec.records, style)
            return
        parents = self._pager(spec.parent.request, spec.parent.records, spec.parent.paginator)
        for rows in parents.pages({}):
            for row in rows:
                yield self._pager(spec.request, spec.records, style, parent=row)

    def _starting_position(
        self, context: types.Context | None
    ) -> tuple[KeysetPosition, list[tuple[datetime.datetime | None, datetime.datetime | None]]]:
        """The bookmark (with its keys) and the windows to read."""
        runtime = self.runtime
        state = self.get_context_state(context)
        position = KeysetPosition()
        bookmark = None
        if state.get("replication_key") == self.replication_key:
            bookmark = state.get("replication_key_value")
        if bookmark:
            prior = parse_timestamp(str(bookmark))
            # Keep the bookmark in canonical text so string comparisons stay exact.
            state["replication_key_value"] = format_timestamp(prior)
            position.prior_ts = prior.astimezone(datetime.UTC)
            position.prior_keys = frozenset(
                self._hashable(k) for k in state.get(BOOKMARK_KEYS) or []
            )
            since = position.prior_ts - datetime.timedelta(seconds=runtime.lookback_seconds)
            self.logger.info(
                "Resuming '%s' from bookmark %s (%d keys at it), lookback %ss",
                self.name,
                state["replication_key_value"],
                len(position.prior_keys),
                runtime.lookback_seconds,
            )
            return position, [(since, None)]
        start = runtime.start_date
        if start is not None and runtime.backfill_window != "none":
            windows = backfill_windows(start, runtime.backfill_window, runtime.now())
            self.logger.info(
                "Backfilling '%s' from %s in %d %s windows",
                self.name,
                format_timestamp(start),
                len(windows),
                runtime.backfill_window,
            )
            return position, list(windows)
        return position, [(start, None)]

    def get_records(self, context: types.Context | None) -> Iterable[dict]:
        """Every row of the entity not emitted by an earlier sync, in order."""
        for rows in self.get_record_pages(context):
            yield from rows

    def get_record_pages(self, context: types.Context | None) -> Iterator[list[dict]]:
        """`get_records`, a page at a time."""
        hook = self._page_hook()
        rk = self.replication_key
        if not rk:
            for pager in self._pagers():
                yield from full_table_pages(pager, self.primary_keys, hook)
            return
        if self.replication_method == REPLICATION_INCREMENTAL:
            position, windows = self._starting_position(context)
        else:
            position, windows = KeysetPosition(), [(None, None)]
        reader = IncrementalReader(
            pager=next(self._pagers()),
            replication_key=rk,
            primary_keys=self.primary_keys,
            position=position,
            page_hook=hook,
            filter_digits=self.spec.request.since_digits,
        )
        for low, high in windows:
            yield from reader.read_pages(low, high)
        if position.regroups:
            self.logger.info(
                "'%s': %d tie groups changed while paging and were re-read",
                self.name,
                position.regroups,
            )
